"""Every change to an audited object is written to the audit trail in its own transaction,
with no call in the services: session events watch the models of :data:`AUDITED`.

After each flush, the objects it inserted, changed or deleted become entries
(``<object>.created|updated|deleted`` with ``changes`` ``{field: {old, new}}`` from the
attributes' history), held on the session; just before the commit they are appended to the
chain, and a rollback drops them (a savepoint's rollback, the ones made inside it). So an
entry exists exactly when its change was committed, and a chain's lock is held only while
the transaction commits.

Field names are the API's (camelCase). A secret field shows by name only:
``{"password": {"changed": true}}``; inside JSON values (a schedule's recipients) a secret's
value is replaced by ``"***"``. Bookkeeping (``updated_at``, a key's ``last_used_at``, a
schedule's next run) is left out, and a change of nothing else writes no entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, Session, SessionTransaction, UOWTransaction

from broadsheet import models
from broadsheet.audit import chain
from broadsheet.audit.context import Context, current
from broadsheet.kit.jsonvalues import jsonable

# Never in ``changes``: a row's identity, and what every change touches anyway.
ALWAYS_SKIPPED = frozenset({"id", "tenant_id", "created_at", "updated_at", "version"})
# Keys whose values are secrets wherever they appear inside a JSON value.
SECRET_KEYS = frozenset({"secret", "password", "token"})
HIDDEN = "***"


@dataclass(frozen=True)
class Audited:
    """How a model's rows appear in the trail."""

    object_type: str
    # attribute -> the name it is shown by (its value never is)
    secrets: dict[str, str] = field(default_factory=dict)
    # attributes Broadsheet keeps up to date itself, not changes a person makes
    bookkeeping: frozenset[str] = frozenset()
    # attribute -> the verb of an update that sets it (a key's ``revoked_at``: ``key.revoked``)
    verbs: dict[str, str] = field(default_factory=dict)


AUDITED: dict[type[Any], Audited] = {
    models.ReportDefinition: Audited("report"),
    models.ReportSchedule: Audited(
        "schedule", bookkeeping=frozenset({"last_run_at", "next_run_at"})
    ),
    models.Dashboard: Audited("dashboard", bookkeeping=frozenset({"refreshed_at"})),
    models.DataSource: Audited("data_source", secrets={"url_encrypted": "url"}),
    models.User: Audited("user", secrets={"password_hash": "password"}),
    models.ApiKey: Audited(
        "key",
        secrets={"key_hash": "key"},
        bookkeeping=frozenset({"last_used_at"}),
        verbs={"revoked_at": "revoked"},
    ),
    models.Tenant: Audited(
        "tenant", secrets={"webhook_secret": "webhookSecret", "embed_secret": "embedSecret"}
    ),
}


def register(model: type[Any], audited: Audited) -> None:
    """Audit another model (a module that adds one calls this)."""
    AUDITED[model] = audited


# The event subscriptions of the event feed, when that model is there.
_subscriptions = getattr(models, "EventSubscription", None)
if _subscriptions is not None:
    register(
        _subscriptions,
        Audited(
            "event_subscription", secrets={"secret": "secret"}, bookkeeping=frozenset({"position"})
        ),
    )

OBJECT_TYPES: tuple[str, ...] = tuple(sorted({a.object_type for a in AUDITED.values()}))
_PENDING = "broadsheet.audit.pending"
_MARKS = "broadsheet.audit.savepoints"


def pending(session: Session) -> list[chain.Entry]:
    """The entries of ``session``'s transaction not yet appended."""
    found: list[chain.Entry] = session.info.setdefault(_PENDING, [])
    return found


def entry(
    context: Context,
    tenant_id: uuid.UUID,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    *,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> chain.Entry:
    return chain.Entry(
        tenant_id=tenant_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor_type=context.actor.type,
        actor_id=context.actor.id,
        ip=context.ip,
        request_id=context.request_id,
        changes=changes or None,
        # JSON-safe now, so the row read back hashes as it was written.
        details=_shown(details) if details else None,
    )


def _shown(value: Any) -> Any:
    """A JSON-safe value, with any secret inside it hidden."""
    if isinstance(value, dict):
        return {
            str(k): HIDDEN if k in SECRET_KEYS and v is not None else _shown(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    return jsonable(value)


def _changes(state: InstanceState[Any], audited: Audited, kind: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    skipped = ALWAYS_SKIPPED | audited.bookkeeping
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in skipped:
            continue
        if kind == "updated":
            history = state.attrs[key].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
        else:  # only what is loaded: a deleted row cannot be read any more
            value = state.dict.get(key)
            old, new = (None, value) if kind == "created" else (value, None)
        if old == new or (old is None and new is None):
            continue
        if key in audited.secrets:
            changes[audited.secrets[key]] = {"changed": True}
        else:
            changes[to_camel(key)] = {"old": _shown(old), "new": _shown(new)}
    return changes


def _tenant_of(instance: Any) -> uuid.UUID | None:
    if isinstance(instance, models.Tenant):
        return instance.id
    tenant_id: uuid.UUID | None = getattr(instance, "tenant_id", None)
    return tenant_id


def _entries(session: Session, context: Context) -> Iterable[chain.Entry]:
    # A tenant deleted takes its trail with it (the rows cascade): nothing to write there.
    gone = {t.id for t in session.deleted if isinstance(t, models.Tenant)}
    for kind, instances in (
        ("created", session.new),
        ("updated", session.dirty),
        ("deleted", session.deleted),
    ):
        for instance in instances:
            audited = AUDITED.get(type(instance))
            if audited is None:
                continue
            state = inspect(instance)
            changes = _changes(state, audited, kind)
            tenant_id = _tenant_of(instance)
            if tenant_id is None or tenant_id in gone or (kind == "updated" and not changes):
                continue
            action = f"{audited.object_type}.{_verb(audited, kind, changes)}"
            yield entry(context, tenant_id, action, audited.object_type, instance.id,
                        changes=changes)  # fmt: skip


def _verb(audited: Audited, kind: str, changes: dict[str, Any]) -> str:
    if kind == "updated":
        for attr, verb in audited.verbs.items():
            change = changes.get(to_camel(attr))
            if change is not None and change.get("new") is not None:
                return verb
    return kind


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush: UOWTransaction) -> None:
    # After the flush: new rows have their ids; the attributes still hold their history.
    pending(session).extend(_entries(session, current()))


@event.listens_for(Session, "before_commit")
def _append(session: Session) -> None:
    # The commit's own flush comes after this event: flush first, so its changes are in.
    session.flush()
    entries = session.info.pop(_PENDING, None)
    if entries:
        chain.append(session.connection(), entries)


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint remembers how many entries there were, to drop only its own on rollback.
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(pending(session))


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        mark = session.info.get(_MARKS, {}).pop(transaction, None)
        if mark is not None:
            del pending(session)[mark:]
    elif transaction.parent is None:
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # A session closed without committing ends its transaction without a rollback event.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)
