"""How a widget reads as HTML (``dashboards.widget_html``): a chart's text alternative."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from broadsheet.dashboards import widget_html


def chart_widget(points: int) -> dict[str, Any]:
    return {
        "id": "w1",
        "type": "visualization",
        "title": "Daily close",
        "position": {"x": 0, "y": 0},
        "size": {"width": 6, "height": 4},
        "data": {
            "status": "ready",
            "svgUrl": "/chart.svg",
            "spec": {"mark": "line"},
            "chartData": [
                {"day": f"2026-01-{i % 28 + 1:02d}", "close": i + 0.5} for i in range(points)
            ],
        },
    }


def test_a_charts_table_lists_its_first_points_and_says_how_many_it_has() -> None:
    shown = widget_html.view(chart_widget(1_234), "widget-w1", ZoneInfo("UTC"))
    table = shown["chart_table"]
    assert len(table["rows"]) == widget_html.MAX_CHART_ROWS
    assert table["caption"] == f"The chart's first {widget_html.MAX_CHART_ROWS} of 1,234 points"
    assert table["rows"][0] == [
        {"text": "2026-01-01", "numeric": False},
        {"text": "0.5", "numeric": True},
    ]
    html = widget_html.macros().body(shown)
    assert "Daily close: a chart of 1,234 points." in html
    assert html.count("<tr") == widget_html.MAX_CHART_ROWS + 1  # and a header row

    few = widget_html.view(chart_widget(3), "widget-w1", ZoneInfo("UTC"))["chart_table"]
    assert few["caption"] == "The chart's 3 points" and len(few["rows"]) == 3
