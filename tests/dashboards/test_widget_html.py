"""How a widget reads as HTML (``dashboards.widget_html``): a chart's text alternative, and
what it carries for charts.js."""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from broadsheet.dashboards import widget_html


def ready_widget(kind: str, title: str, data: dict[str, Any]) -> dict[str, Any]:
    """A widget as the document dumps it, its data ready."""
    return {
        "id": "w1",
        "type": kind,
        "title": title,
        "position": {"x": 0, "y": 0},
        "size": {"width": 6, "height": 4},
        "data": {"status": "ready", **data},
    }


def chart_widget(points: int) -> dict[str, Any]:
    return ready_widget(
        "visualization",
        "Daily close",
        {
            "svgUrl": "/chart.svg",
            "spec": {"mark": "line"},
            "chartData": [
                {"day": f"2026-01-{i % 28 + 1:02d}", "close": i + 0.5} for i in range(points)
            ],
        },
    )


def test_a_charts_table_lists_its_first_points_and_says_how_many_it_has() -> None:
    shown = widget_html.view(chart_widget(1_234), "widget-w1", ZoneInfo("UTC"))
    table = shown["chart_table"]
    assert len(table["rows"]) == widget_html.MAX_CHART_ROWS
    assert table["caption"] == f"The chart's first {widget_html.MAX_CHART_ROWS} of 1,234 points"
    assert table["rows"][0] == '<td>2026-01-01</td><td class="num">0.5</td>'
    html = widget_html.macros().body(shown)
    assert "Daily close: a chart of 1,234 points." in html
    assert html.count("<tr") == widget_html.MAX_CHART_ROWS + 1  # and a header row

    few = widget_html.view(chart_widget(3), "widget-w1", ZoneInfo("UTC"))["chart_table"]
    assert few["caption"] == "The chart's 3 points" and len(few["rows"]) == 3


def test_a_tables_text_is_escaped_and_its_numbers_share_their_decimals() -> None:
    rows = [{"note": "<b>buy</b> & hold", "price": 1.5}, {"note": None, "price": 2.25}]
    columns = [{"name": "note"}, {"name": "price"}]
    widget = ready_widget("report", "Trades", {"columns": columns, "rows": rows, "totalRows": 2})
    shown = widget_html.view(widget, "widget-w2", ZoneInfo("UTC"))
    assert shown["rows"] == [
        '<td>&lt;b&gt;buy&lt;/b&gt; &amp; hold</td><td class="num">1.50</td>',
        '<td></td><td class="num">2.25</td>',
    ]
    assert [c["numeric"] for c in shown["columns"]] == [False, True]
    html = widget_html.macros().body(shown)
    assert "<tr><td>&lt;b&gt;buy&lt;/b&gt; &amp; hold</td>" in html and "<b>" not in html


def test_a_charts_data_block_is_its_payload_and_no_text_in_it_ends_the_script() -> None:
    widget = chart_widget(3)
    widget["data"]["chartData"][0]["day"] = "</script><script>alert('x') & more</script>"
    shown = widget_html.view(widget, "widget-w1", ZoneInfo("UTC"))
    html = widget_html.macros().body(shown, interactive=True)
    blocks = re.findall(r'<script type="application/json">(.*?)</script>', html, re.S)
    assert len(blocks) == 1 and "<" not in blocks[0] and "'" not in blocks[0]
    assert json.loads(blocks[0]) == shown["chart_payload"]
