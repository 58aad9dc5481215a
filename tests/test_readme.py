"""The README stays true: every setting and command is documented."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.main import get_command

from broadsheet import demo
from broadsheet.cli import app
from broadsheet.config import Settings
from broadsheet.datasources import demo_dataset
from broadsheet.reports.expressions import render

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"BROADSHEET_{name.upper()}"
        for name in Settings.model_fields
        if f"`BROADSHEET_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_command_is_documented() -> None:
    group = get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    names += [f"keys {sub}" for sub in group.commands["keys"].commands]  # type: ignore[attr-defined]
    missing = [name for name in names if f"broadsheet {name}" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in README and "exec make test" in ci


@pytest.mark.parametrize(
    "day",
    [date(2026, 12, 6), date(2027, 1, 1), date(2027, 1, 3), date(2027, 3, 1), date(2028, 2, 29)],
    ids=str,
)
def test_the_readme_asks_for_dates_the_demo_has(tmp_path: Path, day: date) -> None:
    """The generate and schedule examples ask for days inside the demo data made that day, so
    a newcomer who follows them gets rows (fixed dates would not, once the data moves on)."""
    asked = re.findall(r'"startDate": "([^"]+)",\s*"endDate": "([^"]+)"', README)
    assert len(asked) >= 2, asked
    conn = sqlite3.connect(demo_dataset.build(tmp_path / "demo.db", day))
    monthly = demo.REPORTS[0]["query"]  # the Monthly Performance Report's, as in the examples
    at = datetime.combine(day, time(9), UTC)
    for start, end in asked:
        values = {
            name: str(render(text, at, ZoneInfo("America/New_York")))[:10]
            for name, text in (("startDate", start), ("endDate", end))
        }
        assert conn.execute(monthly, values).fetchall(), (day, start, end, values)
