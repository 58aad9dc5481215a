"""Text the chart renderer cannot put in SVG (a control character, say) is replaced before it
gets there: the renderer aborts its whole process on one."""

from __future__ import annotations

import subprocess
import sys

from broadsheet.charts.render import valid_text

PROGRAM = """
from broadsheet.charts.base import DATA_NAME
from broadsheet.charts.render import to_png, to_svg
spec = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "title": "Totals\\x02",
    "data": {"name": DATA_NAME},
    "mark": "bar",
    "encoding": {"x": {"field": "name\\x03", "type": "nominal"},
                 "y": {"field": "total", "type": "quantitative"}},
}
rows = [{"name\\x03": "ctrl\\x01char", "total": 3}, {"name\\x03": "nul\\x00", "total": 2}]
svg = to_svg(spec, rows)
png = to_png(spec, rows)
print("drawn", "ctrl char" in svg, png[:4] == b"\\x89PNG")
"""


def test_control_characters_in_chart_text_are_drawn_as_replacements() -> None:
    # In a child process: were one to reach the renderer, it would abort the test run.
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["drawn", "True", "True"], done.stdout


def test_valid_text_replaces_only_what_xml_forbids() -> None:
    given = {"a\x01": ["x\x00y", "tab\tnew\nline\rok", "é 漢字 🙂", 3, None, {"k": "\x1f\ud800"}]}
    assert valid_text(given) == {
        "a ": ["x y", "tab\tnew\nline\rok", "é 漢字 🙂", 3, None, {"k": " \ufffd"}]
    }
