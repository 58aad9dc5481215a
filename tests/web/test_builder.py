"""The report builder (/reports/new, /reports/{id}/edit): server rules through the real pages
(TestClient, on SQLite and PostgreSQL) and the whole journey in Chromium — keyboard only,
with and without JavaScript, axe-core at desktop and phone widths."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.models import DataSource, ReportDefinition, Role, Tenant
from tests.factories import Tenancy, report_body
from tests.web.conftest import PageLog, sign_in_page
from tests.web.helpers import add_user, create_report, csrf_token, sign_in_as, tab_to, two_frames

HOSTILE = "<script>alert('x')</script>&amp;\"quoted\""
SQL = (
    'SELECT date, strategy, "return", benchmark_return FROM portfolio_performance'
    " WHERE strategy = :strategy ORDER BY date"
)


def _source_id(sessions: sessionmaker[Session], tenant: str = "acme") -> str:
    with session_scope(sessions) as session:
        found = session.scalar(
            select(DataSource.id)
            .join(Tenant, Tenant.id == DataSource.tenant_id)
            .where(Tenant.slug == tenant)
        )
    assert found is not None
    return str(found)


def _stored(sessions: sessionmaker[Session], report_id: uuid.UUID) -> ReportDefinition:
    with session_scope(sessions) as session:
        row = session.get(ReportDefinition, report_id)
        assert row is not None
        session.expunge(row)
        return row


def _form(client: TestClient, sessions: sessionmaker[Session], **fields: str) -> dict[str, str]:
    """A builder form as a browser posts it: the page's token, the demo source, then
    ``fields`` (API names, ``parameters[0].name``…)."""
    token = csrf_token(client.get("/reports/new").text)
    return {
        "csrf_token": token,
        "name": "Strategy returns",
        "category": "performance",
        "dataSource": _source_id(sessions),
        "query": SQL,
        "parameters[0].name": "strategy",
        "parameters[0].label": "Strategy",
        "parameters[0].type": "string",
        "parameters[0].defaultValue": "Momentum",
        **fields,
    }


def _press(
    client: TestClient, form: dict[str, str], action: str, *, htmx: bool = False
) -> httpx.Response:
    """Press the builder's button ``action`` on /reports/new filled in with ``form``; with
    ``htmx``, as htmx sends it (the answer is then the part of the page that changes)."""
    headers = {"HX-Request": "true"} if htmx else None
    return client.post("/reports/new", data={**form, "action": action}, headers=headers)


def _error_links(page_html: str) -> dict[str, str]:
    """The error summary's links: target id → message."""
    summary = page_html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return {
        target: html.unescape(message)
        for target, message in re.findall(r'<a href="#([^"]+)">([^<]*)</a>', summary)
    }


# --- who may build, and whose reports ----------------------------------------------------------


def test_viewers_get_the_forbidden_page(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    report = create_report(sessions, settings)
    sign_in_as(web, sessions, Role.viewer)
    token = csrf_token(web.get("/reports").text)
    for answer in (
        web.get("/reports/new"),
        web.get(f"/reports/{report}/edit"),
        web.get(f"/datasources/{_source_id(sessions)}/schema.json"),
        web.post("/reports/new", data={"csrf_token": token, "name": "x", "action": "save"}),
        web.post(f"/reports/{report}/edit", data={"csrf_token": token, "action": "preview"}),
    ):
        assert answer.status_code == 403
        assert "You cannot do that" in answer.text
    assert _stored(sessions, report).version == 1


def test_another_tenants_report_and_source_are_not_found(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    report = create_report(sessions, settings)
    source = _source_id(sessions)
    sign_in_as(web, sessions, Role.admin, tenant="globex")
    token = csrf_token(web.get("/reports/new").text)
    for answer in (
        web.get(f"/reports/{report}/edit"),
        web.post(f"/reports/{report}/edit", data={"csrf_token": token, "action": "save"}),
        web.get(f"/datasources/{source}/schema.json"),
        web.get("/reports/not-an-id/edit"),
    ):
        assert answer.status_code == 404
        assert "Page not found" in answer.text
    # Nor can a new report of globex's preview or save against acme's source.
    posted = _press(
        web, {"csrf_token": token, "dataSource": source, "query": "SELECT 1"}, "preview"
    )
    assert posted.status_code == 200
    assert "Choose a data source." in posted.text
    saved = web.post(
        "/reports/new",
        data={"csrf_token": token, "name": "x", "category": "y", "dataSource": source},
    )
    assert saved.status_code == 422
    assert _error_links(saved.text) == {"dataSource": "Choose a data source."}


def test_the_schema_for_completion_lists_the_demo_tables(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    answer = web.get(f"/datasources/{_source_id(sessions)}/schema.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    tables = {t["name"]: [c["name"] for c in t["columns"]] for t in answer.json()["tables"]}
    assert tables["portfolio_performance"] == ["date", "strategy", "return", "benchmark_return"]
    page = web.get("/reports/new").text
    assert 'data-schema-url="/datasources/{value}/schema.json"' in page
    assert 'data-schema-from="dataSource"' in page


# --- parameters ---------------------------------------------------------------------------------


def test_an_undeclared_parameter_gets_an_add_button_that_keeps_what_was_typed(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    typed = _form(web, sessions, description="Typed before adding")
    for key in [k for k in typed if k.startswith("parameters[")]:
        del typed[key]
    typed["query"] = SQL.replace(
        "ORDER BY date", "AND date >= CAST(:since AS date) AND 'a'::text = 'a' ORDER BY date"
    )
    page = _press(web, typed, "preview").text
    # Both names the SQL binds, as the server reads them: the ::date cast is no parameter.
    assert re.findall(r'value="add-parameter:(\w+)"', page) == ["strategy", "since"]
    assert "The SQL uses :strategy, :since, which is not declared" in page

    added = _press(web, typed, "add-parameter:since")
    assert added.status_code == 200
    page = added.text
    assert re.findall(r'value="add-parameter:(\w+)"', page) == ["strategy"]
    assert re.search(r'id="parameters-0-name" name="parameters\[0\].name"[^>]*value="since"', page)
    assert 'value="Since"' in page  # its label, from its name
    assert re.search(r'id="parameters-0-label"[^>]*autofocus', page)
    assert "Typed before adding</textarea>" in page
    assert str(escape(typed["query"])) in page

    # htmx asks for the parameters only.
    part = _press(web, typed, "add-parameter:strategy", htmx=True).text
    assert part.lstrip().startswith('<section id="parameters"')
    assert "<html" not in part
    assert re.findall(r'value="add-parameter:(\w+)"', part) == ["since"]
    assert re.search(r'id="parameters-0-name"[^>]*value="strategy"', part)


def test_a_parameter_the_sql_does_not_use_is_warned(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(web, sessions, **{"parameters[1].name": "region", "parameters[1].label": "R"})
    page = _press(web, form, "check-parameters", htmx=True).text
    assert page.lstrip().startswith('<div id="parameter-check"')
    assert "the SQL does not use this parameter: <code>region</code>" in page


# --- preview -----------------------------------------------------------------------------------


def test_preview_shows_the_first_100_rows_with_the_default_or_preview_value(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(web, sessions)
    page = _press(web, form, "preview").text
    assert "The first 100 rows (the query returns more)." in page
    cells = re.findall(r"<td>(Momentum|Fixed Income)</td>", page)
    assert cells == ["Momentum"] * 100

    form["parameters[0].preview"] = "Fixed Income"
    part = _press(web, form, "preview", htmx=True).text
    assert re.findall(r"<td>(Momentum|Fixed Income)</td>", part) == ["Fixed Income"] * 100
    assert (
        '<p id="preview-status" hx-swap-oob="innerHTML">Preview: 100 of more than 100 rows' in part
    )
    assert '<section id="visualizations" class="builder-charts"' in part
    assert 'hx-swap-oob="true"' in part


def test_a_broken_query_shows_the_databases_error_not_a_500(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(web, sessions, query=SQL.replace("benchmark_return", "no_such_column"))
    for htmx in (False, True):
        answer = _press(web, form, "preview", htmx=htmx)
        assert answer.status_code == 200
        assert "The query did not run" in answer.text
        assert "no_such_column" in answer.text  # the database's own words
    writes = _press(web, {**form, "query": "DELETE FROM trades"}, "preview")
    assert writes.status_code == 200
    assert "The query did not run" in writes.text
    for query in ("SELECT :", "SELECT 1 WHERE 1 = :1x", "\x00", "SELECT '" + "x" * 5000):
        odd = _press(web, {**form, "query": query}, "preview")
        assert odd.status_code == 200, query
    required = _press(
        web, {**form, "parameters[0].defaultValue": "", "parameters[0].required": "true"}, "preview"
    )
    assert "strategy: is required" in required.text


# --- charts -------------------------------------------------------------------------------------


def test_chart_pickers_offer_only_fitting_columns_and_the_chart_is_drawn(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(
        web,
        sessions,
        **{
            "visualizations[0].id": "chart-1",
            "visualizations[0].type": "bar",
            "visualizations[0].dataMapping.x": "strategy",
            "visualizations[0].dataMapping.y": "return",
        },
    )
    page = _press(web, form, "preview").text
    y_picker = page.split('id="visualizations-0-dataMapping-y"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]*)"', y_picker) == ["", "return", "benchmark_return"]
    x_picker = page.split('id="visualizations-0-dataMapping-x"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]*)"', x_picker) == [
        "",
        "date",
        "strategy",
        "return",
        "benchmark_return",
    ]
    assert re.search(r'<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]{200,}" alt="Bar', page)
    assert "<summary>Show as table</summary>" in page

    # htmx: a new type answers the chart's fields; another change, its drawing only.
    fields = _press(
        web, {**form, "visualizations[0].type": "pie"}, "refresh-chart:0", htmx=True
    ).text
    assert fields.lstrip().startswith('<fieldset class="builder-chart" id="visualizations-0"')
    assert 'for="visualizations-0-dataMapping-category">Slices<' in fields
    # The bar's columns carried over to the pie's roles; its series has no place there.
    assert re.search(
        r'name="visualizations\[0\].dataMapping.category"[^>]*>\s*<option value="">'
        r'Choose a column</option>(?:(?!</select>).)*<option value="strategy" selected>',
        fields,
        re.S,
    )
    assert 'name="visualizations[0].dataMapping.value"' in fields
    assert "dataMapping.series" not in fields
    drawing = _press(
        web, {**form, "visualizations[0].dataMapping.x": "date"}, "draw-chart:0", htmx=True
    ).text
    assert drawing.lstrip().startswith('<div class="builder-chart__drawing"')
    assert 'alt="Bar chart — return by date"' in drawing


def test_remove_buttons_take_out_one_row_and_keep_the_rest(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(
        web,
        sessions,
        **{
            "parameters[1].name": "region",
            "parameters[1].label": "Region",
            "parameters[1].type": "string",
            "visualizations[0].id": "first",
            "visualizations[0].type": "table",
            "visualizations[1].id": "second",
            "visualizations[1].type": "bar",
            "visualizations[1].title": "Kept",
        },
    )
    page = _press(web, form, "remove-parameter:0").text
    assert re.search(r'id="parameters-0-name"[^>]*value="region"', page)
    assert 'id="parameters-1-name"' not in page
    assert re.search(r'id="add-parameter"[^>]*autofocus', page)
    part = _press(web, form, "remove-chart:0", htmx=True).text
    assert part.lstrip().startswith('<section id="visualizations"')
    assert 'name="visualizations[0].id" value="second"' in part
    assert 'id="visualizations-0-title"' in part and 'value="Kept"' in part
    assert "visualizations[1]" not in part
    assert re.search(r'id="add-chart"[^>]*autofocus', part)


# --- saving --------------------------------------------------------------------------------------


def test_save_creates_the_report_the_api_reads_back(
    web: TestClient, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(
        web,
        sessions,
        description="Daily returns",
        tags="strategies, daily",
        **{
            "visualizations[0].id": "chart-1",
            "visualizations[0].type": "table",
            "visualizations[0].dataMapping.columns": "date",
            "action": "save",
        },
    )
    answer = web.post("/reports/new", data=form)
    assert answer.status_code == 303
    found = re.fullmatch(r"/reports/([0-9a-f-]{36})", answer.headers["location"])
    assert found
    key = tenancy.key("acme", Role.viewer)
    read = web.get(f"/api/v1/reports/{found.group(1)}", headers=key.headers).json()
    assert read["name"] == "Strategy returns"
    assert read["description"] == "Daily returns"
    assert read["tags"] == ["strategies", "daily"]
    assert read["query"] == SQL
    assert [_given(p) for p in read["parameters"]] == [
        {
            "name": "strategy",
            "label": "Strategy",
            "type": "string",
            "required": False,
            "defaultValue": "Momentum",
        }
    ]
    assert [_given(v) for v in read["visualizations"]] == [
        {"id": "chart-1", "type": "table", "dataMapping": {"columns": ["date"]}}
    ]


def _given(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def test_save_errors_are_shown_at_their_fields_and_keep_what_was_typed(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    form = _form(
        web,
        sessions,
        name="",
        description="Kept after the failure",
        **{"parameters[0].name": "1bad", "parameters[0].label": "", "action": "save"},
    )
    answer = web.post("/reports/new", data=form)
    assert answer.status_code == 422
    links = _error_links(answer.text)
    assert links == {
        "name": "Enter a name for the report.",
        "parameters-0-name": "Use letters, digits and underscores, starting with a letter or "
        "an underscore (the name the SQL binds as :name).",
        "parameters-0-label": "Enter a label for the parameter.",
    }
    assert 'aria-invalid="true"' in answer.text
    assert "Kept after the failure</textarea>" in answer.text
    assert 'value="1bad"' in answer.text

    # A parameter's own rule is shown at the field it is about.
    form = _form(web, sessions, **{"parameters[0].type": "enum", "action": "save"})
    links = _error_links(web.post("/reports/new", data=form).text)
    assert links == {"parameters-0-options": "An enum parameter needs at least one option."}
    form["parameters[0].options"] = "Momentum\nGlobal Equity | Global"
    form["parameters[0].defaultValue"] = "Global"
    links = _error_links(web.post("/reports/new", data=form).text)
    assert list(links) == ["parameters-0-defaultValue"]
    assert (
        "is not one of the options: Momentum, Global Equity" in links["parameters-0-defaultValue"]
    )

    # The service's checks against the source: a chart's column the query does not return.
    form = _form(
        web,
        sessions,
        **{
            "visualizations[0].id": "chart-1",
            "visualizations[0].type": "line",
            "visualizations[0].dataMapping.x": "date",
            "visualizations[0].dataMapping.y": "volume",
            "action": "save",
        },
    )
    answer = web.post("/reports/new", data=form)
    assert answer.status_code == 422
    links = _error_links(answer.text)
    assert list(links) == ["visualizations-0-dataMapping-y"]
    assert links["visualizations-0-dataMapping-y"].startswith("No column 'volume' in the query's")
    assert 'value="volume"' in answer.text  # kept, though no longer a column to pick

    form = _form(web, sessions, query="SELECT nope FROM trades", action="save")
    form = {k: v for k, v in form.items() if not k.startswith("parameters[")}
    answer = web.post("/reports/new", data=form)
    links = _error_links(answer.text)
    assert list(links) == ["query"]
    assert links["query"].startswith("The data source rejected it:")
    assert "nope" in links["query"]


def test_a_stale_version_is_a_409_message_and_the_form_is_kept(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings, tenancy: Tenancy
) -> None:
    report = create_report(sessions, settings)
    sign_in_as(web, sessions, Role.editor)
    page = web.get(f"/reports/{report}/edit").text
    assert '<input type="hidden" name="version" value="1">' in page
    assert 'value="Monthly Performance Report"' in page
    key = tenancy.key("acme", Role.editor)
    body = {**report_body(), "name": "Renamed elsewhere", "version": 1}
    assert web.put(f"/api/v1/reports/{report}", json=body, headers=key.headers).status_code == 200

    # The form as the page showed it at version 1, with a new name.
    form = _form(web, sessions, name="My change", version="1", action="save")
    form |= {
        "query": report_body()["query"],
        "parameters[0].name": "startDate",
        "parameters[0].label": "Start Date",
        "parameters[0].type": "date",
        "parameters[0].defaultValue": "",
        "parameters[1].name": "endDate",
        "parameters[1].label": "End Date",
        "parameters[1].type": "date",
        "parameters[1].defaultValue": "now()",
        "visualizations[0].id": "perf-chart",
        "visualizations[0].type": "line",
        "visualizations[0].title": "Performance Over Time",
        "visualizations[0].dataMapping.x": "date",
        "visualizations[0].dataMapping.y": "return",
        "visualizations[0].dataMapping.series": "strategy",
    }
    answer = web.post(f"/reports/{report}/edit", data=form)
    assert answer.status_code == 409
    assert "The report was not saved" in answer.text
    assert "the report is at version 2, not 1" in html.unescape(answer.text).lower()
    assert 'value="My change"' in answer.text
    assert _stored(sessions, report).name == "Renamed elsewhere"

    form["version"] = "2"
    saved = web.post(f"/reports/{report}/edit", data=form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/reports/{report}"
    stored = _stored(sessions, report)
    assert (stored.name, stored.version) == ("My change", 3)
    # What the builder has no field for is kept from the stored definition.
    assert stored.layout == report_body()["layout"]
    assert (stored.visualizations or [{}])[0]["options"] == {
        "showLegend": True,
        "yAxisLabel": "Return (%)",
    }


def test_hostile_names_sql_and_values_render_as_text(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    report = create_report(
        sessions, settings, name=HOSTILE, description=HOSTILE, tags=[HOSTILE[:50]]
    )
    sign_in_as(web, sessions, Role.editor)
    page = web.get(f"/reports/{report}/edit").text
    assert "<script>alert" not in page
    assert str(escape(HOSTILE)) in page

    form = _form(
        web,
        sessions,
        name=HOSTILE,
        query=f"SELECT '{HOSTILE.replace(chr(39), '')}' AS \"<img src=x onerror=alert(1)>\"",
        **{
            "parameters[0].label": HOSTILE,
            "parameters[0].preview": HOSTILE,
            "visualizations[0].id": "chart-1",
            "visualizations[0].type": "bar",
            "visualizations[0].title": HOSTILE,
            "visualizations[0].dataMapping.x": HOSTILE,
            "action": "add-parameter:<b>bold</b>",
        },
    )
    for action in ("add-parameter:<b>bold</b>", "preview", "save"):
        answer = _press(web, form, action)
        assert answer.status_code in (200, 422), action
        assert "<script>alert" not in answer.text
        assert "<img src=x" not in answer.text
        assert "<b>bold</b>" not in answer.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in _press(web, form, "preview").text


# --- in a browser -------------------------------------------------------------------------------


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def _editor_content(page: Page) -> str:
    return ".builder-workspace__editor .cm-content"


def test_building_a_report_by_keyboard(
    live_server: str,
    signed_in: Page,
    page_log: PageLog,
    tenancy: Tenancy,
    axe: Callable[..., None],
) -> None:
    tenancy.demo("acme")
    page = signed_in
    page.goto(f"{live_server}/reports/new")
    expect(page).to_have_title("New report · Broadsheet")
    expect(page.locator("textarea#query")).to_have_attribute("data-sql-editor-schema", "loaded")

    tab_to(page, "#name")
    page.keyboard.type("Strategy returns")
    page.keyboard.press("Tab")
    page.keyboard.type("performance")
    page.keyboard.press("Tab")
    page.keyboard.type("Daily returns of one strategy")
    page.keyboard.press("Tab")
    assert _focused_id(page) == "dataSource"  # the demo source, the only one, is chosen
    expect(page.locator("#dataSource")).to_have_value(re.compile(r"[0-9a-f-]{36}"))
    page.keyboard.press("Tab")
    page.keyboard.type("strategies, daily")
    page.keyboard.press("Tab")

    # The SQL editor: completion offers the demo's tables from the source's schema.
    expect(page.locator(_editor_content(page))).to_be_focused()
    page.keyboard.type('SELECT date, strategy, "return", benchmark_return FROM portf')
    completion = page.locator(".cm-tooltip-autocomplete")
    expect(completion).to_contain_text("portfolio_performance")
    page.keyboard.type("olio_performance WHERE strategy = :strategy ORDER BY date")
    page.keyboard.press("Escape")
    expect(page.locator("textarea#query")).to_have_value(SQL)

    # The undeclared :strategy gets its button; Enter adds it and focuses its label.
    add = page.get_by_role("button", name="Add parameter strategy")
    expect(add).to_be_visible()
    tab_to(page, "button[value='add-parameter:strategy']")
    page.keyboard.press("Enter")
    expect(page.locator("#parameters-0-label")).to_be_focused()
    two_frames(page)
    expect(page.locator("#parameters-0-name")).to_have_value("strategy")
    expect(add).to_have_count(0)
    page.keyboard.press("Tab")  # Type: text
    page.keyboard.press("Tab")
    assert _focused_id(page) == "parameters-0-defaultValue"
    page.keyboard.type("Momentum")

    # Preview: rows appear beside the editor.
    tab_to(page, "button[value='preview']", back=True)
    page.keyboard.press("Enter")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("The first 100 rows")
    expect(preview.locator("tbody tr")).to_have_count(100)
    expect(page.locator("#preview-status")).to_contain_text("Preview: 100 of more than 100 rows")

    # A broken query shows the database's error beside the editor, then is put right.
    tab_to(page, _editor_content(page), back=True)
    page.keyboard.press("Control+End")
    page.keyboard.type(", nope")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(preview).to_contain_text("The query did not run")
    expect(preview).to_contain_text("nope")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Control+End")
    for _ in ", nope":
        page.keyboard.press("Backspace")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(preview.locator("tbody tr")).to_have_count(100)

    # Two charts, their columns picked from the preview's by typing in each picker.
    tab_to(page, "#add-chart")
    page.keyboard.press("Enter")
    expect(page.locator("#visualizations-0-type")).to_be_focused()
    two_frames(page)
    page.keyboard.type("l")  # Line
    expect(page.locator("label[for='visualizations-0-dataMapping-x']")).to_have_text("X axis")
    expect(page.locator("#visualizations-0-type")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("Return over time")
    page.keyboard.press("Tab")
    page.keyboard.type("d")  # date
    page.keyboard.press("Tab")
    page.keyboard.type("r")  # return
    expect(page.locator("#visualizations-0-drawing img")).to_have_attribute(
        "alt", "Line chart: Return over time — return over date"
    )

    tab_to(page, "#add-chart")
    page.keyboard.press("Enter")
    expect(page.locator("#visualizations-1-type")).to_be_focused()
    two_frames(page)
    page.keyboard.press("Tab")
    page.keyboard.type("Benchmark by day")
    page.keyboard.press("Tab")
    page.keyboard.type("d")
    page.keyboard.press("Tab")
    page.keyboard.type("b")  # benchmark_return
    expect(page.locator("#visualizations-1-drawing img")).to_have_attribute(
        "alt", "Bar chart: Benchmark by day — benchmark_return by date"
    )
    expect(page.locator("#visualizations-0-dataMapping-y")).to_have_value("return")
    axe(page)
    page.set_viewport_size({"width": 375, "height": 800})
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})

    tab_to(page, "button[value='save']")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{live_server}/reports/[0-9a-f-]{{36}}$"))
    report_id = page.url.rsplit("/", 1)[1]

    key = tenancy.key("acme", Role.viewer)
    read = page.request.get(f"{live_server}/api/v1/reports/{report_id}", headers=key.headers)
    assert read.ok
    definition = read.json()
    assert definition["name"] == "Strategy returns"
    assert definition["category"] == "performance"
    assert definition["description"] == "Daily returns of one strategy"
    assert definition["tags"] == ["strategies", "daily"]
    assert definition["query"] == SQL
    assert [_given(p) for p in definition["parameters"]] == [
        {
            "name": "strategy",
            "label": "Strategy",
            "type": "string",
            "required": False,
            "defaultValue": "Momentum",
        }
    ]
    assert [_given(v) for v in definition["visualizations"]] == [
        {
            "id": "chart-1",
            "type": "line",
            "title": "Return over time",
            "dataMapping": {"x": "date", "y": "return"},
        },
        {
            "id": "chart-2",
            "type": "bar",
            "title": "Benchmark by day",
            "dataMapping": {"x": "date", "y": "benchmark_return"},
        },
    ]
    assert page_log.csp_violations == []
    assert page_log.page_errors == []


def test_a_failed_save_in_a_browser(
    live_server: str,
    signed_in: Page,
    page_log: PageLog,
    tenancy: Tenancy,
    axe: Callable[..., None],
) -> None:
    tenancy.demo("acme")
    page = signed_in
    page.goto(f"{live_server}/reports/new")
    page.locator(".cm-content").click()
    page.keyboard.type("SELECT * FROM trades WHERE side = :side")
    page.get_by_role("button", name="Add parameter side").click()
    expect(page.locator("#parameters-0-label")).to_be_focused()
    page.get_by_role("button", name="Add a chart").click()
    expect(page.locator("#visualizations-0-type")).to_be_focused()
    page.get_by_role("button", name="Save").click()
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Enter a name for the report.")
    expect(summary).to_contain_text("Enter a category.")
    # The SQL typed is back in the editor, and the summary's link to a field focuses it.
    expect(page.locator(".cm-content")).to_contain_text("WHERE side = :side")
    page.keyboard.press("Tab")
    expect(summary.get_by_role("link", name="Enter a name for the report.")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#name")).to_be_focused()
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        axe(page)
    assert page_log.csp_violations == []
    assert page_log.page_errors == []


def test_building_a_report_without_javascript(
    live_server: str, no_script: Page, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    """Every button posts the form and the page comes back (axe needs JavaScript: the
    other browser tests check these same pages with it)."""
    tenancy.demo("acme")
    user = add_user(sessions, tenant="acme", role=Role.editor)
    page = sign_in_page(no_script, live_server, user)
    page.goto(f"{live_server}/reports/new")
    sql = page.locator("textarea#query")
    expect(sql).to_be_visible()  # the editor without JavaScript
    page.locator("#name").fill("Plain form")
    page.locator("#category").fill("performance")
    sql.fill(SQL)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("The SQL uses :strategy")
    page.get_by_role("button", name="Add parameter strategy").click()
    expect(page.locator("#parameters-0-label")).to_be_focused()
    page.locator("#parameters-0-defaultValue").fill("Multi-Asset")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview tbody tr")).to_have_count(100)
    expect(page.locator("#preview")).to_contain_text("Multi-Asset")

    page.get_by_role("button", name="Add a chart").click()
    expect(page.locator("#visualizations-0-type")).to_be_focused()
    page.locator("#visualizations-0-type").select_option("scatter")
    # Without htmx a new type shows its own pickers once the form comes back.
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#visualizations-0-dataMapping-color")).to_be_visible()
    page.locator("#visualizations-0-dataMapping-x").select_option("return")
    page.locator("#visualizations-0-dataMapping-y").select_option("benchmark_return")
    page.locator("#name").fill("")
    page.get_by_role("button", name="Save").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Enter a name for the report.")
    expect(page.locator("#visualizations-0-drawing img")).to_be_visible()
    page.locator("#name").fill("Plain form")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"{live_server}/reports/[0-9a-f-]{{36}}$"))
    with session_scope(sessions) as session:
        row = session.scalar(select(ReportDefinition).where(ReportDefinition.name == "Plain form"))
        assert row is not None
        assert row.parameters == [
            {
                "name": "strategy",
                "label": "Strategy",
                "type": "string",
                "required": False,
                "defaultValue": "Multi-Asset",
            }
        ]
        assert row.visualizations == [
            {
                "id": "chart-1",
                "type": "scatter",
                "dataMapping": {"x": "return", "y": "benchmark_return"},
            }
        ]
