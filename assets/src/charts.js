// Interactive charts over the server's SVGs.
//
// Markup (the server's drawing stays the chart without JavaScript, and the figure's caption and
// "Show as table" stay its text alternative):
//
//   <figure class="chart" data-vega-spec-url="/…/chart.json">
//     <div data-chart-static> <svg …>…</svg> or <img src="….svg" alt="…"> </div>
//     <figcaption>…</figcaption>
//   </figure>
//
// or, with the spec in the page instead of at a URL (a JSON data block is not a script, so
// `script-src 'self'` lets it be):
//
//   <figure class="chart" data-vega-spec>
//     <script type="application/json">{…}</script> <div data-chart-static>…</div> …
//   </figure>
//
// The JSON is `{"spec": <Vega-Lite>, "chartData": [rows]}` as the API and the dashboards send
// it (the rows are bound to the spec's named data), or a Vega-Lite spec alone. When the chart is
// drawn the static drawing is hidden; if anything fails it stays. The figure's
// `data-chart-state` says where it is: loading, ready or failed. A click on a mark dispatches
// `chart:select` on the figure with the mark's datum in `detail.datum`.
//
// Vega parses expressions to ASTs and the interpreter evaluates them (`ast: true`), so nothing is
// compiled with eval or new Function: the pages need no 'unsafe-eval'. Vega-embed's and the
// tooltip's <style> elements are turned off (refused by style-src 'self'); the tooltip's look is
// an adopted style sheet.
//
// The Vega-Lite spec is compiled here rather than by vega-embed: Vega-Lite 5 marks what it
// makes as a Vega 5 spec, which Vega 6 runs as it is (the server draws with the same pair), and
// vega-embed would warn of the mismatch on every chart. The compiled spec goes in without that
// mark.

import embed from "vega-embed";
import { expressionInterpreter } from "vega-interpreter";
import { compile } from "vega-lite";

import { adoptStyleSheet } from "./adopted-styles.js";

const FIGURES = "figure[data-vega-spec-url], figure[data-vega-spec]";
const DEFAULT_DATA_NAME = "table";
// The server's number format (broadsheet/charts/drawing.py): en-US with a hyphen-minus, so the
// drawn chart and the interactive one print numbers alike.
const NUMBER_LOCALE = {
  decimal: ".",
  thousands: ",",
  grouping: [3],
  currency: ["$", ""],
  minus: "-",
};
const TOOLTIP_CSS = `
#vg-tooltip-element {
  visibility: hidden; position: fixed; z-index: 1000; max-width: 20rem; padding: 0.5rem;
  background: #fff; color: #0b0c0c; border: 2px solid #0b0c0c;
  font: inherit; font-size: 0.875rem; line-height: 1.4; pointer-events: none;
}
#vg-tooltip-element.visible { visibility: visible; }
#vg-tooltip-element h2 { margin: 0 0 0.25rem; font-size: 1rem; }
#vg-tooltip-element table { border-spacing: 0; }
#vg-tooltip-element td { padding: 0.125rem 0; vertical-align: top; overflow-wrap: anywhere; }
#vg-tooltip-element td.key { padding-right: 0.5rem; color: #505a5f; text-align: right; }
`;

const views = new WeakMap(); // figure -> vega View, finalized when htmx removes the figure
let styled = false;

async function readPayload(figure) {
  if (!figure.dataset.vegaSpecUrl) {
    const inline = figure.querySelector(':scope > script[type="application/json"]');
    if (!inline) throw new Error("data-vega-spec without a JSON <script> in the figure");
    return JSON.parse(inline.textContent);
  }
  const answer = await fetch(figure.dataset.vegaSpecUrl, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!answer.ok) throw new Error(`${answer.status} from ${figure.dataset.vegaSpecUrl}`);
  return answer.json();
}

/** The spec with its rows bound to the data it names. */
export function specWithData(payload) {
  if (!payload || typeof payload !== "object" || !payload.spec) return payload;
  const { spec, chartData } = payload;
  if (!Array.isArray(chartData)) return spec;
  const name = (spec.data && spec.data.name) || DEFAULT_DATA_NAME;
  return { ...spec, datasets: { ...spec.datasets, [name]: chartData } };
}

function labelFrom(figure, drawing) {
  if (!drawing || drawing.hasAttribute("aria-label")) return;
  const caption = figure.querySelector(":scope > figcaption");
  if (caption) {
    caption.id ||= `chart-caption-${Math.random().toString(36).slice(2)}`;
    drawing.setAttribute("aria-labelledby", caption.id);
  } else if (figure.getAttribute("aria-label")) {
    drawing.setAttribute("aria-label", figure.getAttribute("aria-label"));
  }
}

async function enhance(figure) {
  if (figure.dataset.chartState) return;
  figure.dataset.chartState = "loading";
  if (!styled) {
    adoptStyleSheet(TOOLTIP_CSS);
    styled = true;
  }
  const fallback = figure.querySelector(":scope > [data-chart-static]");
  const live = document.createElement("div");
  live.className = "chart-live";
  figure.insertBefore(live, fallback ? fallback.nextSibling : figure.firstChild);
  try {
    const { $schema: _, ...spec } = compile(specWithData(await readPayload(figure))).spec;
    const { view } = await embed(live, spec, {
      mode: "vega",
      hover: false, // as for a Vega-Lite spec: its own selections and tooltips, no hover set
      ast: true,
      expr: expressionInterpreter,
      renderer: "svg",
      actions: false,
      defaultStyle: false,
      tooltip: { disableDefaultStyle: true },
      formatLocale: NUMBER_LOCALE,
    });
    views.set(figure, view);
    labelFrom(figure, live.querySelector("svg"));
    view.addEventListener("click", (_event, item) => {
      if (item && item.datum) {
        const detail = { datum: item.datum };
        figure.dispatchEvent(new CustomEvent("chart:select", { bubbles: true, detail }));
      }
    });
    if (fallback) fallback.hidden = true;
    figure.dataset.chartState = "ready";
  } catch (error) {
    live.remove();
    figure.dataset.chartState = "failed";
    console.warn("chart not made interactive; the server's drawing stays", error);
  }
}

/** Makes every chart figure in `root` (and `root` itself) interactive. */
export function enhanceCharts(root = document) {
  if (root.matches && root.matches(FIGURES)) enhance(root);
  if (root.querySelectorAll) root.querySelectorAll(FIGURES).forEach(enhance);
}

// htmx announces the cleanup of every element it removes, the figure's own included.
function finalize(element) {
  const view = views.get(element);
  if (view) {
    view.finalize();
    views.delete(element);
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => enhanceCharts());
} else {
  enhanceCharts();
}
// Content htmx swaps in (a widget refreshed, a preview redrawn) is enhanced as it arrives.
document.addEventListener("htmx:load", (event) => enhanceCharts(event.target));
document.addEventListener("htmx:beforeCleanupElement", (event) => finalize(event.target));
window.BroadsheetCharts = { enhanceCharts };
