// Styles that scripts add, given to the page as constructed style sheets.
//
// The pages' Content-Security-Policy is `style-src 'self'`: a <style> element that a script
// inserts is refused (and its rules never apply), but a CSSStyleSheet built in script and
// adopted by the document is not inline markup and is allowed. CodeMirror's style-mod inserts
// <style> elements into documents (it adopts sheets only in shadow roots), so its mount is
// replaced by one that adopts, keeping style-mod's ordering of modules.

import { StyleModule } from "style-mod";

/** Adds `cssText` to the document as a sheet of its own; returns that sheet. */
export function adoptStyleSheet(cssText, root = document) {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(cssText);
  root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  return sheet;
}

const mounted = new WeakMap(); // root -> { sheet, modules }
const styleTagMount = StyleModule.mount;

function adoptingMount(root, modules, options) {
  if (!root.adoptedStyleSheets || typeof CSSStyleSheet === "undefined") {
    return styleTagMount.call(StyleModule, root, modules, options);
  }
  let set = mounted.get(root);
  if (!set) {
    set = { sheet: new CSSStyleSheet(), modules: [] };
    mounted.set(root, set);
  }
  // style-mod's rule: modules keep the order they are given in, later ones taking precedence;
  // a module already mounted earlier than its new place moves.
  let next = 0;
  let changed = false;
  for (const module of Array.isArray(modules) ? modules : [modules]) {
    let index = set.modules.indexOf(module);
    if (index > -1 && index < next) {
      set.modules.splice(index, 1);
      next--;
      index = -1;
    }
    if (index === -1) {
      set.modules.splice(next++, 0, module);
      changed = true;
    } else {
      next = index + 1;
    }
  }
  if (changed) set.sheet.replaceSync(set.modules.map((m) => m.getRules()).join("\n"));
  if (!root.adoptedStyleSheets.includes(set.sheet)) {
    root.adoptedStyleSheets = [set.sheet, ...root.adoptedStyleSheets];
  }
}

/** From now on CodeMirror's styles are adopted sheets, not <style> elements. */
export function adoptStyleModules() {
  StyleModule.mount = adoptingMount;
}
