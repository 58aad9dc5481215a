"""The web UI's front-end files: committed as ``make assets`` built them, within their size
budgets, and working in Chromium under the pages' Content-Security-Policy (no inline script or
style, no eval): charts drawn by Vega's expression interpreter over the server's SVG, the SQL
editor over its textarea, htmx sending the CSRF token.

The browser tests serve the files and small pages from a plain HTTP server of their own that
sends the strict policy, so they test the files themselves, whatever pages use them.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
import vl_convert
from playwright.sync_api import Browser, Page, expect

from broadsheet.charts import CHART_TYPES, build, to_svg
from broadsheet.charts.drawing import vegalite_version
from broadsheet.datasources.schemas import SourceSchema
from tests.factories import Tenancy
from tests.web.conftest import PageLog, assert_accessible

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
VENDOR = ROOT / "broadsheet" / "web" / "static" / "vendor"
REBUILD = "run `make assets` and commit broadsheet/web/static/vendor/"
# The budget: pages with no editor and no interactive chart load htmx and csrf.js only.
PLAIN_PAGE_JS = ("htmx.min.js", "csrf.js")
PLAIN_PAGE_GZIP_BUDGET = 40 * 1024
# Ceilings a little above today's sizes (charts 311 KB, editor 130 KB gzip), so a dependency
# that doubles one (a second copy of Vega's scenegraph did) is noticed.
GZIP_CEILINGS = {"charts.js": 340 * 1024, "sql-editor.js": 145 * 1024}
# As strict as the pages' policy, and stricter elsewhere: anything the files need beyond
# their own origin fails here first.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDOR / "manifest.json").read_text())
    return loaded


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


# --- the committed build -------------------------------------------------------------------


def test_the_vendor_files_are_the_ones_the_build_wrote() -> None:
    files = manifest()["files"]
    present = {p.name for p in VENDOR.iterdir()} - {"manifest.json"}
    assert present == set(files), f"files not made by the build, or missing: {REBUILD}"
    for name, made in files.items():
        assert sha256(VENDOR / name) == made["sha256"], f"{name} changed since built: {REBUILD}"
        assert (VENDOR / name).stat().st_size == made["bytes"]


def test_the_build_is_not_older_than_its_sources() -> None:
    inputs = manifest()["inputs"]
    sources = {"package.json", "package-lock.json", "build.mjs"} | {
        f"src/{p.name}" for p in (ASSETS / "src").iterdir()
    }
    assert set(inputs) == sources, f"sources added or removed since the build: {REBUILD}"
    stale = [name for name, digest in inputs.items() if sha256(ASSETS / name) != digest]
    assert not stale, f"{', '.join(stale)} changed since the build: {REBUILD}"


def test_the_bundled_packages_are_the_locked_ones_at_the_servers_vega() -> None:
    lock = json.loads((ASSETS / "package-lock.json").read_text())
    direct = lock["packages"][""]["dependencies"]
    bundled = manifest()["packages"]
    assert bundled == {n: lock["packages"][f"node_modules/{n}"]["version"] for n in direct}
    assert all(bundled[n] == wanted for n, wanted in direct.items()), "pin exact versions"
    # The browser draws with the Vega the server's renderer (vl-convert) draws with.
    assert bundled["vega"] == vl_convert.get_vega_version()
    assert bundled["vega-embed"] == vl_convert.get_vega_embed_version()
    assert bundled["vega-lite"].startswith(f"{vegalite_version()}.")
    assert bundled["htmx.org"].startswith("2.")


def test_plain_pages_load_at_most_40_kb_of_gzipped_script() -> None:
    total = sum(gzip_size(VENDOR / name) for name in PLAIN_PAGE_JS)
    assert total <= PLAIN_PAGE_GZIP_BUDGET, f"htmx + csrf.js are {total} bytes gzipped"


@pytest.mark.parametrize("name", sorted(GZIP_CEILINGS))
def test_the_editor_and_charts_stay_near_their_size(name: str) -> None:
    assert gzip_size(VENDOR / name) <= GZIP_CEILINGS[name]


def test_the_third_party_licences_ship_with_the_files() -> None:
    licences = (VENDOR / "THIRD-PARTY-LICENSES.txt").read_text()
    for package in ("htmx.org", "vega", "vega-lite", "vega-embed", "@codemirror/view"):
        assert f"\n{package} {manifest()['packages'].get(package, '')}" in licences


# --- a site that serves the files under the strict policy ----------------------------------


class Site:
    """Pages by path, the vendor files under /static/vendor/, and /echo, which shows what a
    POST carried (its CSRF header and form fields)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.url = ""

    def add(self, path: str, body: str | bytes, kind: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (kind, body.encode() if isinstance(body, str) else body)
        return self.url + path


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.startswith("/static/vendor/") and (VENDOR / path[15:]).is_file():
                self.answer(200, "text/javascript", (VENDOR / path[15:]).read_bytes())
            elif path in site.pages:
                self.answer(200, *site.pages[path])
            elif path == "/favicon.ico":  # asked for by every page: none, and no error
                self.answer(204, "image/x-icon", b"")
            else:
                self.answer(404, "text/plain", b"not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fields = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            shown = json.dumps({k: v[0] for k, v in fields.items()})
            token = html.escape(self.headers.get("X-CSRF-Token") or "(none)")
            fragment = f'<p id="token">{token}</p><pre id="fields">{html.escape(shown)}</pre>'
            body = fragment if self.headers.get("HX-Request") else html_page("Posted", fragment)
            self.answer(200, "text/html; charset=utf-8", body.encode())

        def answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests say what went wrong

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    served = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    host, port = server.server_address[:2]
    served.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


def html_page(title: str, body: str, *, scripts: tuple[str, ...] = (), head: str = "") -> str:
    tags = "".join(f'<script src="/static/vendor/{s}" defer></script>' for s in scripts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"{head}{tags}</head><body><main><h1>{title}</h1>{body}</main></body></html>"
    )


# --- charts --------------------------------------------------------------------------------

SALES = pa.table(
    {
        "day": pa.array([f"2024-01-0{d}" for d in (1, 2, 3)] * 2).cast(pa.date32()),
        "region": ["North", "South", "East", "North", "South", "East"],
        "sales": [10.0, 20.5, -3.0, 12.0, 18.0, -1.5],
        "open": [10.0, 11.0, 10.5, 20.0, 19.0, 19.5],
        "high": [11.5, 11.2, 11.0, 20.5, 19.8, 20.1],
        "low": [9.8, 10.1, 10.2, 19.0, 18.7, 19.2],
        "close": [11.0, 10.5, 10.9, 19.0, 19.5, 20.0],
    }
)
MAPPINGS: dict[str, dict[str, str]] = {
    "table": {},
    "bar": {"x": "region", "y": "sales"},
    "line": {"x": "day", "y": "sales", "series": "region"},
    "pie": {"x": "region", "y": "open"},
    "scatter": {"x": "open", "y": "close", "color": "region", "size": "high"},
    "heatmap": {"x": "day", "y": "region", "value": "sales"},
    "candlestick": {"x": "day", "open": "open", "high": "high", "low": "low", "close": "close"},
}


def chart_payload(viz_type: str) -> dict[str, Any]:
    """What the API and dashboards send for a visualization: ``{spec, chartData}``."""
    viz: dict[str, Any] = {"id": viz_type, "type": viz_type, "title": f"Sales {viz_type}"}
    if MAPPINGS[viz_type]:
        viz["dataMapping"] = MAPPINGS[viz_type]
    return build(viz, SALES)


def chart_figure(viz_type: str, payload: dict[str, Any], *, inline: bool) -> str:
    """The markup pages use: the server's SVG inside, the spec at a URL or in the page."""
    drawn = to_svg(payload["spec"], payload["chartData"])
    if inline:
        source = 'data-vega-spec><script type="application/json">'
        source += json.dumps(payload).replace("</", "<\\/") + "</script"
    else:
        source = f'data-vega-spec-url="/charts/{viz_type}.json"'
    return (
        f'<figure class="chart" id="{viz_type}" {source}>'
        f"<div data-chart-static>{drawn}</div>"
        f"<figcaption>Sales {viz_type}</figcaption></figure>"
    )


@pytest.fixture(scope="module")
def chart_page(site: Site) -> str:
    figures = []
    for number, viz_type in enumerate(sorted(CHART_TYPES)):
        payload = chart_payload(viz_type)
        site.add(f"/charts/{viz_type}.json", json.dumps(payload), "application/json")
        figures.append(chart_figure(viz_type, payload, inline=number % 2 == 0))
    return site.add("/charts", html_page("Charts", "".join(figures), scripts=("charts.js",)))


def test_charts_draw_under_the_strict_policy_with_tooltips_and_clicks(
    page: Page, page_log: PageLog, chart_page: str
) -> None:
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(chart_page)
    for viz_type in CHART_TYPES:
        figure = page.locator(f"figure#{viz_type}")
        expect(figure).to_have_attribute("data-chart-state", "ready")
        expect(figure.locator("[data-chart-static]")).to_be_hidden()
        drawn = figure.locator(".chart-live > svg")
        expect(drawn).to_be_visible()
        expect(drawn.locator("text", has_text=f"Sales {viz_type}")).to_have_count(1)
        caption = figure.locator("figcaption").get_attribute("id")
        expect(drawn).to_have_attribute("aria-labelledby", caption or "a caption id")
    # Numbers print as the server prints them: a hyphen-minus, not U+2212.
    bar_labels = page.locator("figure#bar .chart-live svg").text_content() or ""
    assert "-5" in bar_labels and "\u2212" not in bar_labels

    page.locator("figure#bar .chart-live .mark-rect path").first.hover()
    tooltip = page.locator("#vg-tooltip-element.visible")
    expect(tooltip).to_contain_text("East")
    expect(tooltip).to_contain_text("-4.5")
    # The tooltip's look is an adopted style sheet, which the policy allows.
    assert tooltip.evaluate("e => getComputedStyle(e).borderTopWidth") == "2px"

    page.evaluate(
        """() => document.addEventListener("chart:select",
             (e) => { window.selected = e.detail.datum.region; })"""
    )
    page.locator("figure#bar .chart-live .mark-rect path").nth(1).click()
    assert page.evaluate("window.selected") == "North"

    assert warnings == []  # not even vega-embed's note on the compiled spec's Vega version
    page_log.assert_clean()
    assert_accessible(page)


def test_without_javascript_the_server_svg_is_the_chart(browser: Browser, chart_page: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        still = context.new_page()
        still.goto(chart_page)
        bar = still.locator("figure#bar")
        expect(bar.locator("[data-chart-static] svg")).to_be_visible()
        expect(bar.locator(".chart-live")).to_have_count(0)
        assert bar.get_attribute("data-chart-state") is None
    finally:
        context.close()


def test_a_chart_that_cannot_load_keeps_the_server_svg(
    page: Page, page_log: PageLog, site: Site
) -> None:
    payload = chart_payload("bar")
    markup = chart_figure("missing", payload, inline=False)  # its JSON answers 404
    url = site.add("/charts-missing", html_page("Chart", markup, scripts=("charts.js",)))
    page.goto(url)
    figure = page.locator("figure#missing")
    expect(figure).to_have_attribute("data-chart-state", "failed")
    expect(figure.locator("[data-chart-static] svg")).to_be_visible()
    expect(figure.locator(".chart-live")).to_have_count(0)
    assert page_log.csp_violations == [] and page_log.page_errors == []


# --- the SQL editor ------------------------------------------------------------------------

SCHEMAS = {
    # What GET /api/v1/datasources/{id}/schema answers.
    "shop": SourceSchema.model_validate(
        {
            "tables": [
                {
                    "schema": None,
                    "name": "orders",
                    "columns": [
                        {"name": "order_id", "type": "INTEGER"},
                        {"name": "total", "type": "NUMERIC(10, 2)"},
                    ],
                },
                {
                    "schema": "crm",
                    "name": "customers",
                    "columns": [{"name": "email", "type": "TEXT"}],
                },
            ],
            "truncated": False,
        }
    ).model_dump(mode="json", by_alias=True),
    # lang-sql's own shape.
    "people": {"employees": ["employee_id", "salary"]},
}
EDITOR_FORM = """
<form method="post" action="/echo">
  <label for="source">Data source</label>
  <select id="source" name="source"><option value="shop">Shop</option>
    <option value="people">People</option></select>
  <label for="sql">SQL</label>
  <p id="sql-hint">One SELECT statement.</p>
  <textarea id="sql" name="sql" rows="6" required aria-describedby="sql-hint" data-sql-editor
    data-schema-url="/schemas/{value}.json" data-schema-from="source"
    data-sql-dialect="postgresql">SELECT 1</textarea>
  <button type="submit">Save</button>
</form>
"""


@pytest.fixture(scope="module")
def editor_page(site: Site) -> str:
    for name, schema in SCHEMAS.items():
        site.add(f"/schemas/{name}.json", json.dumps(schema), "application/json")
    return site.add("/editor", html_page("Editor", EDITOR_FORM, scripts=("sql-editor.js",)))


def completions(page: Page) -> list[str]:
    options = page.locator(".cm-tooltip-autocomplete li")
    expect(options.first).to_be_visible()
    return [label.strip() for label in page.locator(".cm-completionLabel").all_inner_texts()]


def test_the_sql_editor_edits_its_textarea_with_schema_completion(
    page: Page, page_log: PageLog, editor_page: str
) -> None:
    page.goto(editor_page)
    textarea, content = page.locator("textarea#sql"), page.locator(".cm-content")
    expect(content).to_be_visible()
    expect(textarea).to_be_hidden()
    expect(textarea).to_have_attribute("data-sql-editor-schema", "loaded")
    # The editor is the field its label and hint name; the label leads to it.
    expect(content).to_have_accessible_name("SQL")
    expect(content).to_have_accessible_description("One SELECT statement.")
    page.get_by_text("SQL", exact=True).click()
    expect(content).to_be_focused()
    page.evaluate(
        """() => { window.inputs = 0;
           document.getElementById("sql").addEventListener("input", () => window.inputs++); }"""
    )

    page.keyboard.press("Control+End")
    page.keyboard.type(" AS one, tot")
    assert "total" in completions(page)  # a bare column, from every table
    page.keyboard.press("Escape")
    page.keyboard.type(" FROM ord")
    assert "orders" in completions(page)
    page.locator(".cm-completionLabel", has_text=re.compile("^orders$")).click()
    page.keyboard.type(".")
    assert {"order_id", "total"} <= set(completions(page))
    page.keyboard.press("Escape")
    page.keyboard.type(" JOIN crm.")
    assert "customers" in completions(page)  # a table in a schema of its own
    page.keyboard.press("Escape")
    expect(textarea).to_have_value("SELECT 1 AS one, tot FROM orders. JOIN crm.")
    assert page.evaluate("window.inputs") >= 1  # htmx triggers on the textarea see the typing

    # Another data source, another schema.
    page.select_option("#source", "people")
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" emp")
    assert "employees" in completions(page)
    page.keyboard.press("Escape")
    # A quoted name is drawn darker than CodeMirror's default #e40 (3.8:1 on white): 6:1.
    page.keyboard.type(' "quoted"')
    quoted = content.get_by_text('"quoted"', exact=True)
    assert quoted.evaluate("e => getComputedStyle(e).color") == "rgb(179, 48, 0)"

    assert_accessible(page)
    page_log.assert_clean()
    page.get_by_role("button", name="Save").click()
    posted = json.loads(page.locator("#fields").inner_text())
    assert posted["sql"] == 'SELECT 1 AS one, tot FROM orders. JOIN crm. emp "quoted"'


# --- htmx and the CSRF token ---------------------------------------------------------------


def test_htmx_requests_carry_the_csrf_token_under_the_strict_policy(
    page: Page, page_log: PageLog, site: Site
) -> None:
    body = (
        '<button type="button" hx-post="/echo" hx-target="#answer" hx-vals=\'{"n": "1"}\'>'
        'Send</button><div id="answer" aria-live="polite"></div>'
    )
    head = '<meta name="csrf-token" content="token-&lt;42&gt;">'
    url = site.add("/htmx", html_page("Htmx", body, head=head, scripts=PLAIN_PAGE_JS))
    page.goto(url)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#answer #token")).to_have_text("token-<42>")
    assert json.loads(page.locator("#answer #fields").inner_text()) == {"n": "1"}
    # htmx added no <style> of its own (the policy would have refused it).
    assert page.locator("head style").count() == 0
    page_log.assert_clean()


# --- the application serves them -----------------------------------------------------------


def test_the_application_serves_the_files_as_built(
    live_server: str, page: Page, tenancy: Tenancy
) -> None:
    for name in [*PLAIN_PAGE_JS, "charts.js", "sql-editor.js"]:
        answer = page.request.get(f"{live_server}/static/vendor/{name}")
        assert answer.ok, name
        assert answer.headers["content-type"].startswith("text/javascript")
        assert hashlib.sha256(answer.body()).hexdigest() == manifest()["files"][name]["sha256"]
    # A page that names no icon (an embedded dashboard) gets the pages' icon, not a 404.
    icon = page.request.get(f"{live_server}/favicon.ico")
    assert icon.ok and icon.headers["content-type"] == "image/svg+xml"
    assert icon.body() == (VENDOR.parent / "favicon.svg").read_bytes()
    # The live server is the test's own: what the test seeds, the application reads.
    caller = tenancy.key(tenant="acme")
    tenancy.demo("acme")
    reports = page.request.get(f"{live_server}/api/v1/reports", headers=caller.headers)
    assert reports.ok and len(reports.json()) >= 1


def test_a_signed_in_page_runs_htmx_and_csrf_js_under_the_applications_policy(
    signed_in: Page, page_log: PageLog
) -> None:
    scripts = signed_in.evaluate(
        """() => performance.getEntriesByType("resource")
                 .filter((e) => e.initiatorType === "script")
                 .map((e) => new URL(e.name).pathname)"""
    )
    assert sorted(scripts) == sorted(f"/static/vendor/{name}" for name in PLAIN_PAGE_JS)
    policy = signed_in.request.get(signed_in.url).headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    # csrf.js ran after htmx and before it started: no indicator <style>, no eval.
    assert signed_in.evaluate("[htmx.config.includeIndicatorStyles, htmx.config.allowEval]") == [
        False,
        False,
    ]
    assert signed_in.locator("head style").count() == 0
    assert page_log.csp_violations == [] and page_log.page_errors == []
