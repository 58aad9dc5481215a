"""`make test` runs the security gates: pip-audit over the pinned packages and bandit over
Broadsheet's code, which has no high-severity finding."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_target(name: str) -> tuple[list[str], str]:
    """A Makefile target's prerequisites and its recipe."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(rf"^{name}:([^\n]*)\n((?:\t[^\n]*\n)*)", makefile, re.MULTILINE)
    assert found, f"the Makefile has no target {name}"
    return found.group(1).split(), found.group(2)


def test_make_test_runs_pip_audit_and_bandit() -> None:
    prerequisites, _ = make_target("test")
    assert {"audit", "bandit"} <= set(prerequisites)
    _, audit = make_target("audit")
    assert "pip-audit -r requirements-dev.lock" in audit
    _, bandit = make_target("bandit")
    assert "bandit" in bandit and "--severity-level high" in bandit


def test_bandit_finds_nothing_of_high_severity() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-r", "broadsheet", "--severity-level", "high"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_security_md_names_tests_that_exist() -> None:
    """Each `path::test` in SECURITY.md (`::test` alone: the path before it) is a test."""
    text = (ROOT / "SECURITY.md").read_text()
    path = None
    named = 0
    for reference in re.findall(r"`((?:tests/[\w/]+\.py)?::\w+)`", text):
        given, _, name = reference.partition("::")
        path = given or path
        assert path is not None, reference
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name}"
        named += 1
    assert named > 30
