"""The README stays true: every setting and command is documented."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from broadsheet.cli import app
from broadsheet.config import Settings

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
