"""What a schedule sends: one of the tenant's reports (its parameters) or dashboards (its
filters), as the schedule form offers and asks for them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dashboards.schemas import DashboardFilters
from broadsheet.dashboards.service import DashboardService
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.kit.pagination import MAX_LIMIT, Page
from broadsheet.reports.schemas import ReportFilters
from broadsheet.reports.service import ReportService


def text_of(value: Any) -> str:
    """A stored value as a form field shows it (JSON for what is not text)."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class ParameterField:
    name: str
    label: str
    type: str
    required: bool
    default: str | None

    @property
    def hint(self) -> str:
        """``Date, required`` or ``Date, default today()``."""
        said = self.type.capitalize()
        if self.default is not None:
            return f"{said}, default {self.default}"
        return f"{said}, required" if self.required else f"{said}, optional"


@dataclass(frozen=True)
class Target:
    """The report or dashboard a schedule sends."""

    row: models.ReportDefinition | models.Dashboard

    @property
    def is_dashboard(self) -> bool:
        return isinstance(self.row, models.Dashboard)

    @property
    def value(self) -> str:
        return f"{'dashboard' if self.is_dashboard else 'report'}:{self.row.id}"

    @property
    def fields(self) -> list[ParameterField]:
        """Its parameters (a report's) or filters (a dashboard's), as the form asks for them."""
        return [
            ParameterField(
                name=str(p["name"]),
                label=str(p.get("label") or p["name"]),
                type=str(p.get("type", "string")),
                required=bool(p.get("required")),
                default=None if p.get("defaultValue") is None else text_of(p["defaultValue"]),
            )
            for p in self.row.parameters or []
        ]


def find_target(
    session: Session, settings: Settings, caller: Principal, text: str
) -> Target | None:
    """The tenant's report or dashboard ``text`` names; None for none chosen. Unknown, or
    another tenant's, is a 422 at the field."""
    kind, _, raw = text.partition(":")
    if not text:
        return None
    try:
        ident = uuid.UUID(raw)
        if kind == "report":
            return Target(ReportService(session, settings).get(caller.tenant_id, ident))
        if kind == "dashboard":
            return Target(DashboardService(session).get(caller.tenant_id, ident))
    except (ValueError, NotFound):
        pass
    raise ValidationFailed.field("target", "choose a report or dashboard from the list")


def target_choices(
    session: Session, settings: Settings, caller: Principal
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(reports, dashboards) of the tenant as ``(value, name)`` options, by name: the lists
    the API answers, at their longest page."""
    everything = Page(limit=MAX_LIMIT, offset=0)
    reports, _ = ReportService(session, settings).list(
        caller.tenant_id, ReportFilters(sort="name"), everything
    )
    dashboards, _ = DashboardService(session).list(caller.tenant_id, DashboardFilters(), everything)
    return (
        [(f"report:{r.id}", r.name) for r in reports],
        sorted(((f"dashboard:{d.id}", d.name) for d in dashboards), key=lambda o: o[1].lower()),
    )
