// A SQL editor (CodeMirror 6) over a form's <textarea>, with table and column completion.
//
// Markup (without JavaScript the textarea is the editor):
//
//   <label for="sql">SQL</label>
//   <textarea id="sql" name="sql" data-sql-editor
//             data-schema-url="/…/schema" data-sql-dialect="postgresql">SELECT …</textarea>
//
// `data-schema-url` may hold `{value}` with `data-schema-from="<id of a field>"`: the schema
// is read again, with that field's value in the URL, whenever the field changes (a report's
// data source picker). The schema is JSON in one of these shapes:
//   {"tables": [{"name": "orders", "schema": "public", "columns": [{"name": "id", "type": "integer"}]}]}
//   [{"name": "orders", "columns": ["id", "total"]}]
//   {"orders": ["id", "total"]}
// `data-sql-dialect` is a data source's backend: postgresql, mysql, mariadb, sqlite, duckdb.
//
// The textarea stays in the form, hidden, and holds the editor's text after every change
// (with an `input` event on it, so htmx triggers and form posts see the text as typed). The
// editor takes the textarea's labels, description and invalid state; links to the textarea
// (an error summary's) and clicks on its label focus the editor. Tab leaves the editor, as
// from any field.

import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completeFromList,
} from "@codemirror/autocomplete";
import { Compartment } from "@codemirror/state";
import { EditorView, keymap, lineNumbers } from "@codemirror/view";
import {
  HighlightStyle,
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import {
  MariaSQL,
  MySQL,
  PostgreSQL,
  SQLite,
  StandardSQL,
  sql,
} from "@codemirror/lang-sql";
import { minimalSetup } from "codemirror";

import { adoptStyleModules } from "./adopted-styles.js";

adoptStyleModules();

const DIALECTS = {
  postgresql: PostgreSQL,
  duckdb: PostgreSQL,
  mysql: MySQL,
  mariadb: MariaSQL,
  sqlite: SQLite,
};
const schemas = new Map(); // URL -> Promise of the schema's SQLNamespace and column names

// GOV.UK Design System's field look: a 2px border, the yellow and black focus ring.
const theme = EditorView.theme({
  "&": {
    border: "2px solid #0b0c0c",
    backgroundColor: "#fff",
    color: "#0b0c0c",
    fontSize: "1rem",
    minHeight: "10rem",
  },
  "&.cm-focused": { outline: "3px solid #fd0", outlineOffset: "0", boxShadow: "inset 0 0 0 2px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
  ".cm-content": { minHeight: "10rem" },
  ".cm-gutters": { backgroundColor: "#f3f2f1", color: "#505a5f", borderRight: "1px solid #b1b4b6" },
  ".cm-tooltip-autocomplete ul li": { padding: "0.25rem 0.5rem" },
});

// CodeMirror's default colours, but for the two under WCAG's 4.5:1 on white: quoted names and
// escapes (#e40, 3.8:1) and invalid text (#f00, 4:1), darkened to 6:1 and 5.9:1. Being a
// highlighter of its own, it replaces the default (which is only a fallback).
const DARKER = { "#e40": "#b33000", "#f00": "#c00000" };
const accessibleHighlight = HighlightStyle.define(
  defaultHighlightStyle.specs.map((spec) =>
    spec.color in DARKER ? { ...spec, color: DARKER[spec.color] } : spec,
  ),
);

/** One schema, in any of the shapes above, as lang-sql's namespace plus every column name. */
export function schemaNamespace(schema) {
  const tables = Array.isArray(schema)
    ? schema
    : Array.isArray(schema && schema.tables)
      ? schema.tables
      : Object.entries(schema || {}).map(([name, columns]) => ({ name, columns }));
  const namespace = {};
  const columnNames = new Map();
  for (const table of tables) {
    if (!table || typeof table.name !== "string") continue;
    const columns = (table.columns || []).map((column) => {
      const name = typeof column === "string" ? column : column.name;
      const detail = typeof column === "string" ? undefined : column.type;
      // Bare column names rank just below tables and keywords that match as well.
      if (!columnNames.has(name)) {
        columnNames.set(name, { label: name, type: "property", detail, boost: -1 });
      }
      return { label: name, type: "property", detail };
    });
    if (!(table.name in namespace)) namespace[table.name] = columns;
    if (table.schema) {
      const owner = (namespace[table.schema] ||= {});
      if (!Array.isArray(owner)) owner[table.name] = columns;
    }
  }
  return { namespace, columns: [...columnNames.values()] };
}

function loadSchema(url) {
  if (!schemas.has(url)) {
    const loaded = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((answer) => {
        if (!answer.ok) throw new Error(`${answer.status} from ${url}`);
        return answer.json();
      })
      .then(schemaNamespace);
    loaded.catch(() => schemas.delete(url)); // a failure is tried again next time
    schemas.set(url, loaded);
  }
  return schemas.get(url);
}

function language(dialect, schema) {
  const extensions = [
    sql({ dialect, schema: schema ? schema.namespace : undefined, upperCaseKeywords: true }),
  ];
  // lang-sql completes columns only after `table.`; bare column names are offered too.
  if (schema && schema.columns.length) {
    extensions.push(dialect.language.data.of({ autocomplete: completeFromList(schema.columns) }));
  }
  return extensions;
}

function labelIds(textarea) {
  return [...(textarea.labels || [])]
    .map((label) => {
      label.id ||= `${textarea.id || textarea.name}-label`;
      return label.id;
    })
    .join(" ");
}

function contentAttributes(textarea) {
  const attributes = { "aria-multiline": "true", spellcheck: "false" };
  const labelledBy = labelIds(textarea);
  if (labelledBy) attributes["aria-labelledby"] = labelledBy;
  for (const name of ["aria-describedby", "aria-invalid", "aria-label"]) {
    if (textarea.hasAttribute(name)) attributes[name] = textarea.getAttribute(name);
  }
  if (textarea.required) attributes["aria-required"] = "true";
  return attributes;
}

function schemaUrl(textarea) {
  const template = textarea.dataset.schemaUrl;
  if (!template) return null;
  if (!textarea.dataset.schemaFrom) return template;
  const field = document.getElementById(textarea.dataset.schemaFrom);
  if (!field || !field.value) return null;
  return template.replaceAll("{value}", encodeURIComponent(field.value));
}

function focusFrom(textarea, view) {
  for (const label of textarea.labels || []) {
    label.addEventListener("click", (event) => {
      event.preventDefault();
      view.focus();
    });
  }
  if (!textarea.id) return;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href]");
    if (link && link.getAttribute("href") === `#${textarea.id}`) {
      event.preventDefault();
      view.dom.scrollIntoView({ block: "center" });
      view.focus();
    }
  });
}

function enhance(textarea) {
  if (textarea.dataset.sqlEditorState) return;
  textarea.dataset.sqlEditorState = "ready";
  const dialect = DIALECTS[textarea.dataset.sqlDialect] || StandardSQL;
  const languageSlot = new Compartment();
  const view = new EditorView({
    doc: textarea.value,
    extensions: [
      syntaxHighlighting(accessibleHighlight),
      minimalSetup,
      lineNumbers(),
      bracketMatching(),
      closeBrackets(),
      indentOnInput(),
      // The kinds' icons are symbols many systems have no font for; the type names are text.
      autocompletion({ icons: false }),
      keymap.of(closeBracketsKeymap),
      EditorView.lineWrapping,
      languageSlot.of(language(dialect, null)),
      EditorView.contentAttributes.of(contentAttributes(textarea)),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        textarea.value = update.state.doc.toString();
        textarea.dispatchEvent(new Event("input", { bubbles: true }));
      }),
      EditorView.domEventHandlers({
        blur: () => {
          textarea.dispatchEvent(new Event("change", { bubbles: true }));
        },
      }),
      theme,
    ],
  });
  // A hidden required field would stop the form's submission with nothing to show for it;
  // the server checks that the SQL is there.
  textarea.required = false;
  textarea.hidden = true;
  textarea.after(view.dom);
  focusFrom(textarea, view);
  if (textarea.form) {
    textarea.form.addEventListener("reset", () => {
      // The form puts the textarea back after this event; the editor follows it then.
      setTimeout(() => {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: textarea.value } });
      });
    });
  }

  const useSchema = () => {
    const url = schemaUrl(textarea);
    if (!url) {
      view.dispatch({ effects: languageSlot.reconfigure(language(dialect, null)) });
      return;
    }
    loadSchema(url).then(
      (schema) => {
        if (schemaUrl(textarea) !== url) return; // the field changed again meanwhile
        view.dispatch({ effects: languageSlot.reconfigure(language(dialect, schema)) });
        textarea.dataset.sqlEditorSchema = "loaded";
      },
      (error) => {
        textarea.dataset.sqlEditorSchema = "failed";
        console.warn("SQL completion without the schema", error);
      },
    );
  };
  useSchema();
  const source = textarea.dataset.schemaFrom && document.getElementById(textarea.dataset.schemaFrom);
  if (source) source.addEventListener("change", useSchema);
}

/** Turns every `textarea[data-sql-editor]` in `root` (and `root` itself) into an editor. */
export function enhanceSqlEditors(root = document) {
  const selector = "textarea[data-sql-editor]";
  if (root.matches && root.matches(selector)) enhance(root);
  if (root.querySelectorAll) root.querySelectorAll(selector).forEach(enhance);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => enhanceSqlEditors());
} else {
  enhanceSqlEditors();
}
document.addEventListener("htmx:load", (event) => enhanceSqlEditors(event.target));
window.BroadsheetSqlEditor = { enhanceSqlEditors };
