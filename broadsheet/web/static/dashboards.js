// The dashboard page's own script: what htmx attributes cannot say. Without it the page still
// works (forms post, the filter bar reloads the page, a <noscript> refresh reloads it).
//
// - Auto-refresh: a visible countdown of the dashboard's refresh interval, then
//   `dashboard:refresh` on <body>, which every widget that reads a report listens for
//   (hx-trigger); `Pause` / `Resume` stops and restarts it.
// - Filters: a change already re-requests the widgets it targets (hx-trigger on each widget);
//   here the address, the `Download PDF` / `Edit` links and the embed form follow the values.
// - Status: widgets that finish loading or fail are announced in the page's live region.
// - Edit mode: a widget's arrange buttons swap the board in place (htmx); its place is then
//   announced. A pointer can drag a widget by its handle, or resize it by its corner: the drop
//   fills the widget's place form, which posts like the buttons do.
(() => {
  "use strict";

  const PREFIX = "p.";
  const status = () => document.getElementById("dashboard-status");

  function announce(text) {
    const region = status();
    if (!region) return;
    region.textContent = "";
    // A new text node in a live region is announced even when the words are the same.
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  // --- auto-refresh ---------------------------------------------------------------------------

  function startCountdown() {
    const bar = document.querySelector(".refresh-bar[data-refresh-seconds]");
    if (!bar) return;
    const every = Math.max(30, parseInt(bar.dataset.refreshSeconds, 10) || 300);
    const line = bar.querySelector("[data-countdown]");
    const text = bar.querySelector("[data-countdown-text]");
    const button = bar.querySelector("[data-pause]");
    let left = every;
    let paused = bar.hasAttribute("data-paused");

    const show = () => {
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      text.textContent = paused ? "paused" : `${minutes}:${seconds}`;
      button.textContent = paused ? "Resume" : "Pause";
    };
    line.hidden = false;
    button.hidden = false;
    button.addEventListener("click", () => {
      paused = !paused;
      show();
      announce(paused ? "Auto-refresh paused." : "Auto-refresh resumed.");
    });
    show();
    window.setInterval(() => {
      if (paused) return;
      left -= 1;
      if (left <= 0) {
        left = every;
        document.body.dispatchEvent(new CustomEvent("dashboard:refresh", { bubbles: true }));
        announce("Refreshing the widgets.");
      }
      show();
    }, 1000);
  }

  // --- filters --------------------------------------------------------------------------------

  function filterEntries(form) {
    return [...new FormData(form).entries()].filter(
      ([name, value]) => name.startsWith(PREFIX) && String(value).trim() !== ""
    );
  }

  function withFilters(url, entries) {
    for (const name of [...url.searchParams.keys()]) {
      if (name.startsWith(PREFIX) || name === "wait") url.searchParams.delete(name);
    }
    for (const [name, value] of entries) url.searchParams.append(name, value);
    return url;
  }

  function followFilters() {
    const form = document.getElementById("dashboard-filters");
    if (!form) return;
    form.addEventListener("change", () => {
      const entries = filterEntries(form);
      const here = withFilters(new URL(window.location.href), entries);
      window.history.replaceState(window.history.state, "", here);
      document.querySelectorAll("a[data-filter-link]").forEach((link) => {
        link.href = withFilters(new URL(link.href), entries).toString();
      });
      const values = new FormData(form);
      document.querySelectorAll("input[data-filter-mirror]").forEach((input) => {
        const all = values.getAll(input.dataset.filterMirror);
        input.value = all.length ? String(all[all.length - 1]) : "";
      });
    });
  }

  // --- widgets' status ------------------------------------------------------------------------

  let busyBefore = 0;
  const failedSaid = new Set();

  function widgetStates() {
    const widgets = [...document.querySelectorAll(".dashboard-grid .widget")];
    const busy = widgets.filter((w) => ["pending", "refreshing"].includes(w.dataset.state));
    for (const widget of widgets) {
      if (widget.dataset.state === "failed" && !failedSaid.has(widget.id)) {
        failedSaid.add(widget.id);
        const title = widget.querySelector(".widget__title");
        announce(`${title ? title.textContent : "A widget"} could not be loaded.`);
      } else if (widget.dataset.state !== "failed") {
        failedSaid.delete(widget.id);
      }
    }
    if (busyBefore > 0 && busy.length === 0) announce("Every widget is up to date.");
    busyBefore = busy.length;
  }

  // --- edit mode ------------------------------------------------------------------------------

  function afterBoardSwap() {
    const active = document.activeElement;
    const widget = active && active.closest ? active.closest(".widget") : null;
    if (widget) {
      const error = widget.querySelector(".widget__tools .error-message");
      const place = widget.querySelector(".widget__place");
      announce((error || place || { textContent: "" }).textContent.trim());
      return;
    }
    const notice = document.querySelector("#dashboard-board [data-notice]");
    if (notice && (!active || active === document.body)) notice.focus();
  }

  function sizes(list) {
    return String(list)
      .split(/\s+/)
      .map((part) => parseFloat(part))
      .filter((n) => !Number.isNaN(n));
  }

  // The index of the grid track at `offset` px from the grid's start (past the last row,
  // rows of the last row's size continue).
  function trackAt(tracks, gap, offset) {
    let edge = 0;
    for (let i = 0; i < tracks.length; i += 1) {
      if (offset < edge + tracks[i] + gap / 2) return i;
      edge += tracks[i] + gap;
    }
    const step = (tracks[tracks.length - 1] || 72) + gap;
    return tracks.length + Math.max(0, Math.floor((offset - edge) / step));
  }

  let dragging = null; // the widget being dragged: its polling waits meanwhile

  // A drag moves an outline of the widget (a "ghost" outside the board), never the widget:
  // htmx may swap the widget meanwhile, and copies a swapped element's attributes with
  // setAttribute, which the policy refuses for style. The drop fills the widget's place form
  // (found again by id) and submits it, as the arrange buttons do.
  function startDrag(event) {
    const handle = event.target.closest("[data-drag]");
    const grid = document.getElementById("dashboard-grid");
    const widget = handle && handle.closest(".widget");
    if (!widget || !grid || event.button !== 0 || !widget.querySelector("[data-place-form]")) return;
    const style = window.getComputedStyle(grid);
    const columns = sizes(style.gridTemplateColumns);
    if (columns.length < 12) return; // one column: the buttons arrange it
    event.preventDefault();
    const rows = sizes(style.gridTemplateRows);
    const colGap = parseFloat(style.columnGap) || 0;
    const rowGap = parseFloat(style.rowGap) || 0;
    const area = grid.getBoundingClientRect();
    const box = widget.getBoundingClientRect();
    const id = widget.id;
    const resizing = handle.dataset.drag === "resize";
    const form = () => {
      const current = document.getElementById(id);
      return current && current.querySelector("[data-place-form]");
    };
    const value = (name) => parseInt(form().querySelector(`input[name="${name}"]`).value, 10);
    const was = { x: value("x"), y: value("y"), width: value("width"), height: value("height") };
    const start = { x: event.clientX, y: event.clientY };

    const ghost = document.createElement("div");
    ghost.className = "drag-ghost";
    ghost.setAttribute("aria-hidden", "true");
    ghost.style.left = `${box.left}px`;
    ghost.style.top = `${box.top}px`;
    ghost.style.width = `${box.width}px`;
    ghost.style.height = `${box.height}px`;
    document.body.append(ghost);
    dragging = widget;

    const target = (dx, dy) => {
      if (resizing) {
        const right = trackAt(columns, colGap, box.right - area.left + dx - 1);
        const bottom = trackAt(rows, rowGap, box.bottom - area.top + dy - 1);
        return {
          x: was.x,
          y: was.y,
          width: Math.max(1, Math.min(12 - was.x, right - was.x + 1)),
          height: Math.max(1, bottom - was.y + 1),
        };
      }
      const column = trackAt(columns, colGap, box.left - area.left + dx + 1);
      const row = trackAt(rows, rowGap, box.top - area.top + dy + 1);
      return { x: Math.min(column, 12 - was.width), y: row, width: was.width, height: was.height };
    };
    const moved = (e) => {
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (resizing) {
        ghost.style.width = `${Math.max(24, box.width + dx)}px`;
        ghost.style.height = `${Math.max(24, box.height + dy)}px`;
      } else {
        ghost.style.transform = `translate(${dx}px, ${dy}px)`;
      }
      const t = target(dx, dy);
      ghost.dataset.label = resizing
        ? `${t.width} × ${t.height}`
        : `column ${t.x + 1}, row ${t.y + 1}`;
    };
    const finish = () => {
      dragging = null;
      ghost.remove();
      window.removeEventListener("pointermove", moved);
      window.removeEventListener("pointerup", dropped);
      window.removeEventListener("pointercancel", finish);
    };
    const dropped = (e) => {
      finish();
      const t = target(e.clientX - start.x, e.clientY - start.y);
      const place = form();
      if (!place || Object.keys(t).every((k) => t[k] === was[k])) return;
      for (const [name, v] of Object.entries(t)) {
        place.querySelector(`input[name="${name}"]`).value = String(v);
      }
      place.requestSubmit();
    };
    window.addEventListener("pointermove", moved);
    window.addEventListener("pointerup", dropped);
    window.addEventListener("pointercancel", finish);
  }

  function editMode() {
    const board = document.querySelector(".dashboard[data-dashboard-edit]");
    if (!board) return;
    board.classList.add("dashboard--pointer");
    document.addEventListener("pointerdown", (event) => {
      if (event.target.closest && event.target.closest("[data-drag]")) startDrag(event);
    });
    // A widget's own polling waits while it is dragged (its next poll comes 2 s later).
    document.addEventListener("htmx:beforeRequest", (event) => {
      if (dragging && event.detail && event.detail.elt === dragging) event.preventDefault();
    });
  }

  function start() {
    startCountdown();
    followFilters();
    editMode();
    widgetStates();
    document.addEventListener("htmx:afterSettle", (event) => {
      widgetStates();
      const target = event.detail && event.detail.target;
      if (target && target.id === "dashboard-board") afterBoardSwap();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
