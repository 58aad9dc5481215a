"""docs/operations.md stays true: its alert rules parse and point at runbook sections that
exist, its metrics are the ones Broadsheet exports, and every test its runbook names exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from broadsheet.metrics.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
# Read from the database at scrape time (broadsheet.metrics.collectors), not in the registry.
GAUGES = {"broadsheet_jobs_waiting", "broadsheet_stored_bytes"}


def _anchors() -> set[str]:
    """GitHub's ids of the document's headings."""
    headings = re.findall(r"^#+ (.+)$", DOC, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def _rules() -> list[dict[str, Any]]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)
    groups = yaml.safe_load(block)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_parse_and_have_runbooks() -> None:
    rules = _rules()
    names = {rule["alert"] for rule in rules}
    assert {"BroadsheetFireLagHigh", "BroadsheetDeliveriesFailing", "BroadsheetJobsWaiting",
            "BroadsheetNotReady"} <= names  # fmt: skip
    anchors = _anchors()
    for rule in rules:
        assert rule["expr"].strip() and rule["for"] and rule["labels"]["severity"]
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in anchors, (rule["alert"], anchor)


def test_the_metrics_are_the_ones_exported() -> None:
    exported = {metric.name for metric in REGISTRY.collect()} | GAUGES
    documented = set(re.findall(r"^\| `(broadsheet_\w+)`", DOC, flags=re.MULTILINE))
    # The client names counters without their _total suffix.
    assert {name.removesuffix("_total") for name in documented} == exported
    used = set(re.findall(r"broadsheet_[a-z_]+", "\n".join(r["expr"] for r in _rules())))
    for name in used:
        assert re.sub(r"_(bucket|count|sum|total)$", "", name) in exported, name


def test_every_test_the_runbook_names_exists() -> None:
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC))
    assert len(named) >= 7
    for path, function in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert f"def {function}(" in source, f"{path}::{function}"
