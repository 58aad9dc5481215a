"""The one permission table: every action an endpoint or a page performs, the least role its
user needs and the least scope a key needs. Endpoints ask it through ``Allowed(action)``
(``broadsheet.auth.dependencies``), pages through ``WebAllowed(action)``
(``broadsheet.web.dependencies``); ``broadsheet permissions`` prints it.

Roles and scopes are both ordered, each including the ones before it:

    roles   viewer ⊂ editor ⊂ admin
    scopes  read ⊂ run ⊂ write ⊂ admin
            read: reads; run: also generate, run now and exports;
            write: everything but the admin actions; admin: everything

A key may do an action when its user's role and its scopes both reach the action's; a web
session has every scope, so only the role counts there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from broadsheet.models.tenancy import Role

if TYPE_CHECKING:
    from broadsheet.auth.principal import Principal


class Scope(StrEnum):
    read = "read"
    run = "run"
    write = "write"
    admin = "admin"

    def includes(self, needed: Scope) -> bool:
        return SCOPE_ORDER.index(self) >= SCOPE_ORDER.index(needed)


SCOPE_ORDER = (Scope.read, Scope.run, Scope.write, Scope.admin)
ALL_SCOPES = frozenset(Scope)
SCOPE_VALUES = frozenset(s.value for s in Scope)


class Action(StrEnum):
    report_read = "report.read"
    report_write = "report.write"
    report_run = "report.run"
    job_cancel = "job.cancel"
    job_cancel_any = "job.cancel_any"
    export_download = "export.download"
    dashboard_read = "dashboard.read"
    dashboard_write = "dashboard.write"
    dashboard_refresh = "dashboard.refresh"
    dashboard_embed = "dashboard.embed"
    schedule_read = "schedule.read"
    schedule_write = "schedule.write"
    schedule_run_now = "schedule.run_now"
    datasource_schema = "datasource.schema"
    datasource_read = "datasource.read"
    datasource_write = "datasource.write"
    tenant_admin = "tenant.admin"
    user_admin = "user.admin"
    key_admin = "key.admin"
    audit_read = "audit.read"
    event_read = "event.read"
    event_subscribe = "event.subscribe"


@dataclass(frozen=True)
class Rule:
    role: Role
    scope: Scope
    what: str


PERMISSIONS: dict[Action, Rule] = {
    Action.report_read: Rule(Role.viewer, Scope.read, "read reports, their jobs and results"),
    Action.report_write: Rule(Role.editor, Scope.write, "create, change and delete reports"),
    Action.report_run: Rule(Role.viewer, Scope.run, "generate a report"),
    Action.job_cancel: Rule(Role.viewer, Scope.run, "cancel one's own job"),
    # Checked by the job service, on top of job.cancel, when the job is someone else's.
    Action.job_cancel_any: Rule(Role.editor, Scope.run, "cancel anyone's job"),
    Action.export_download: Rule(Role.viewer, Scope.run, "export results and artifacts"),
    Action.dashboard_read: Rule(Role.viewer, Scope.read, "read dashboards"),
    Action.dashboard_write: Rule(Role.editor, Scope.write, "create, change and delete dashboards"),
    Action.dashboard_refresh: Rule(Role.editor, Scope.run, "refresh a dashboard's widgets"),
    Action.dashboard_embed: Rule(Role.editor, Scope.write, "make embed links for dashboards"),
    Action.schedule_read: Rule(Role.viewer, Scope.read, "read schedules and executions"),
    Action.schedule_write: Rule(
        Role.editor, Scope.write, "create, change, pause and delete schedules"
    ),
    Action.schedule_run_now: Rule(Role.editor, Scope.run, "run a schedule now"),
    Action.datasource_schema: Rule(Role.editor, Scope.read, "read a data source's tables"),
    Action.datasource_read: Rule(Role.admin, Scope.read, "read data sources"),
    Action.datasource_write: Rule(
        Role.admin, Scope.write, "create, change, test and delete data sources"
    ),
    Action.tenant_admin: Rule(
        Role.admin, Scope.admin, "read and change tenant settings and secrets"
    ),
    Action.user_admin: Rule(Role.admin, Scope.admin, "manage users and their roles"),
    Action.key_admin: Rule(Role.admin, Scope.admin, "list, create, rotate and revoke API keys"),
    Action.audit_read: Rule(Role.admin, Scope.read, "read the audit log"),
    Action.event_read: Rule(Role.viewer, Scope.read, "read the event feed"),
    # A subscription sends every event of the tenant to an address of its choosing.
    Action.event_subscribe: Rule(Role.admin, Scope.admin, "manage event subscriptions"),
}


def rule(action: Action | str) -> Rule:
    """The action's rule; an action missing from the table is a bug, so it raises KeyError."""
    return PERMISSIONS[Action(action)]


def scope_of(scopes: Iterable[Scope | str]) -> Scope | None:
    """The widest of a key's scopes (they nest, so it stands for them all)."""
    held = {Scope(s) for s in scopes}
    return next((s for s in reversed(SCOPE_ORDER) if s in held), None)


def permits(principal: Principal, action: Action | str) -> bool:
    """Whether the principal may perform the action: its role and its scopes both reach it."""
    return refusal(principal, action) is None


def refusal(principal: Principal, action: Action | str) -> str | None:
    """Why the principal may not perform the action (for a 403's detail), or None."""
    action = Action(action)
    needed = PERMISSIONS[action]
    doing = f"{action.value} ({needed.what})"
    if not principal.role.allows(needed.role):
        if principal.key_id is None:  # a person at a page
            return (
                f"this needs the {needed.role} role, to {needed.what}; "
                f"you are signed in as {principal.role}"
            )
        return f"{doing} needs the {needed.role} role; the key's user is {principal.role}"
    widest = scope_of(principal.scopes)
    if widest is None or not widest.includes(needed.scope):
        held = ",".join(s for s in SCOPE_ORDER if s in principal.scopes) or "none"
        return f"{doing} needs a key with the {needed.scope} scope; this key has: {held}"
    return None


def role_scopes(role: Role) -> list[Scope]:
    """The scopes that give a user of this role more than the one before: what a key is
    given when none are asked for (and what keys made before scopes existed were given)."""
    return [
        s
        for s in SCOPE_ORDER
        if any(r.scope == s and role.allows(r.role) for r in PERMISSIONS.values())
    ]
