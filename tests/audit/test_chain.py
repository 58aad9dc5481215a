"""The audit trail's hash chain: ``broadsheet audit verify`` passes on an intact trail and
names the first entry changed or removed; rolled-back changes write nothing; retention keeps
verification passing; concurrent appends keep one chain; old entries are converted by the
migration."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from broadsheet import migrate, models
from broadsheet.audit import chain, retention
from broadsheet.audit import log as audit
from broadsheet.cli import app
from broadsheet.config import Settings
from broadsheet.db import make_engine, session_scope
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from tests.conftest import _fresh_postgres, metadata_url, service_missing
from tests.factories import Tenancy

runner = CliRunner()


def verify(database_url: str, *args: str) -> Any:
    return runner.invoke(
        app, ["audit", "verify", *args], env={"BROADSHEET_DATABASE_URL": database_url}
    )


def tenant_of(sessions: sessionmaker[Session], slug: str = "acme") -> uuid.UUID:
    with sessions() as session:
        found = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == slug))
    assert found is not None
    return found


def fill(sessions: sessionmaker[Session], tenant: uuid.UUID, count: int) -> list[models.AuditEvent]:
    """``count`` explicit entries, one transaction each; every entry of the tenant, in order."""
    for i in range(count):
        with session_scope(sessions) as session:
            audit.record(
                session, tenant, "email.unsubscribed", "email", None, address=f"p{i}@x.test"
            )
    with sessions() as session:
        return list(
            session.scalars(
                select(models.AuditEvent)
                .where(models.AuditEvent.tenant_id == tenant)
                .order_by(models.AuditEvent.seq)
            )
        )


def test_verify_passes_then_names_a_changed_entry(
    database_url: str, tenancy: Tenancy, sessions: sessionmaker[Session], engine: Engine
) -> None:
    tenancy.key("acme")
    tenancy.key("globex")
    rows = fill(sessions, tenant_of(sessions), 5)
    intact = verify(database_url)
    assert intact.exit_code == 0, intact.output
    total = len(rows) + 3  # and globex's tenant, user and key
    assert f"{total} audit entries in 2 chains: intact" in intact.output
    middle = rows[len(rows) // 2]
    with engine.begin() as conn:
        conn.execute(
            update(models.AuditEvent)
            .where(models.AuditEvent.id == middle.id)
            .values(details={"address": "someone-else@x.test"})
        )
    broken = verify(database_url)
    assert broken.exit_code == 1
    assert f"entry {middle.id} (#{middle.seq}) was changed" in broken.output
    assert "tenant acme" in broken.output
    assert verify(database_url, "--tenant", "globex").exit_code == 0  # the other chain holds


def test_verify_names_a_removed_entry(
    database_url: str, tenancy: Tenancy, sessions: sessionmaker[Session], engine: Engine
) -> None:
    tenancy.key("acme")
    rows = fill(sessions, tenant_of(sessions), 4)
    middle, after = rows[2], rows[3]
    with engine.begin() as conn:
        conn.execute(sa.delete(models.AuditEvent).where(models.AuditEvent.id == middle.id))
    broken = verify(database_url)
    assert broken.exit_code == 1
    assert f"entry #{middle.seq} was removed" in broken.output
    assert str(after.id) in broken.output
    # The newest entry removed: the chain's head still says it was there.
    with engine.begin() as conn:
        conn.execute(sa.delete(models.AuditEvent).where(models.AuditEvent.seq >= middle.seq))
    assert f"entry #{rows[-1].seq} was removed" in verify(database_url).output
    # The oldest entry removed (not by retention): the anchor says where the chain starts.
    with engine.begin() as conn:
        conn.execute(sa.delete(models.AuditEvent).where(models.AuditEvent.seq == 1))
    assert "entry #1 was removed" in verify(database_url).output


def change_then_fail(sessions: sessionmaker[Session], tenant: uuid.UUID) -> None:
    with session_scope(sessions) as session:
        user = session.scalars(select(models.User)).first()
        assert user is not None
        user.name = "Renamed"
        session.flush()  # the entry is collected here ...
        audit.record(session, tenant, "email.unsubscribed", "email", None, address="a@b.test")
        raise RuntimeError("... and rolled back with the change")


def fail_inside(session: Session, tenant: uuid.UUID) -> None:
    session.add(models.Tenant(slug="inside", name="Inside"))
    session.flush()
    audit.record(session, tenant, "email.unsubscribed", "email", None, address="c@d.test")
    raise RuntimeError("the savepoint rolls back")


def test_a_rolled_back_change_writes_nothing(
    sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    tenancy.key("acme")
    tenant = tenant_of(sessions)
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(models.AuditEvent)) or 0
    with pytest.raises(RuntimeError):
        change_then_fail(sessions, tenant)
    with sessions() as session:  # closed without a commit: the same
        session.add(models.Tenant(slug="never", name="Never"))
        session.flush()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.AuditEvent)) == before
    with session_scope(sessions) as session:  # a savepoint rolled back: only its own go
        session.add(models.Tenant(slug="later", name="Later"))
        session.flush()
        with pytest.raises(RuntimeError), session.begin_nested():
            fail_inside(session, tenant)
    with sessions() as session:
        actions = session.scalars(select(models.AuditEvent.action)).all()
    assert actions.count("tenant.created") == 2 and len(actions) == before + 1


def test_retention_deletes_old_entries_and_verify_still_passes(
    database_url: str,
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
    engine: Engine,
    runtime: Runtime,
) -> None:
    tenancy.key("acme")
    rows = fill(sessions, tenant_of(sessions), 6)
    old = [r.id for r in rows[:4]]  # the first four, a year and more ago
    with engine.begin() as conn:
        conn.execute(
            update(models.AuditEvent)
            .where(models.AuditEvent.id.in_(old))
            .values(at=utc_now() - timedelta(days=400))
        )
    assert retention.sweep(runtime) == 4  # the default: 365 days
    assert retention.sweep(runtime) == 0
    with sessions() as session:
        kept = session.scalars(select(models.AuditEvent.id)).all()
        head = session.get(models.AuditChain, rows[0].tenant_id)
    assert set(kept) == {r.id for r in rows[4:]}
    assert head is not None and head.anchor_seq == rows[3].seq and head.anchor_hash == rows[3].hash
    intact = verify(database_url)
    assert intact.exit_code == 0, intact.output
    assert f"{len(rows) - 4} audit entries in 1 chains" in intact.output
    shorter = Runtime.build(runtime.settings.model_copy(update={"audit_retention_days": 1}), engine)
    assert retention.sweep(shorter) == 0  # nothing else is a day old


def test_concurrent_appends_make_one_unbroken_chain(
    database_url: str, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    tenancy.key("acme")
    tenant = tenant_of(sessions)
    together = threading.Barrier(4)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            together.wait(timeout=30)
            for i in range(10):
                with session_scope(sessions) as session:
                    session.add(models.Tenant(slug=f"t{worker}-{i}", name="T"))
                    audit.record(session, tenant, "email.unsubscribed", "email", None, n=i)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with sessions() as session:
        seqs = session.scalars(
            select(models.AuditEvent.seq).where(models.AuditEvent.tenant_id == tenant)
        ).all()
    assert sorted(seqs) == list(range(1, 3 + 40 + 1))
    result = verify(database_url)
    assert result.exit_code == 0, result.output


OLD_EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Uuid()),
    sa.column("tenant_id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.Uuid()),
    sa.column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    source = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not source:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    url = metadata_url(source).replace("_meta", "_auditmig")
    _fresh_postgres(url)
    return url


def test_the_migration_converts_and_chains_old_entries(empty_database: str) -> None:
    url = empty_database
    migrate.upgrade(url, "0012")
    engine = make_engine(url)
    tenant, user = uuid.uuid4(), uuid.uuid4()
    old = [
        (str(user), "tenant.updated", "tenant", tenant, {"allowedEmailDomains": []}),
        ("system", "delivery.attempted", "delivery", None, {"outcome": "sent"}),
        ("system", "delivery.attempted", "delivery", None, {"outcome": "retrying"}),
        ("unsubscribe-link", "email.unsubscribed", "email", None, {"address": "a@b"}),
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(sa.table("tenants", sa.column("id", sa.Uuid()), sa.column("slug"),
                               sa.column("name"), sa.column("created_at", sa.DateTime(True)))),
            {"id": tenant, "slug": "acme", "name": "Acme", "created_at": utc_now()},
        )  # fmt: skip
        conn.execute(
            sa.insert(OLD_EVENTS),
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant,
                    "at": datetime(2026, 1, i + 1, tzinfo=UTC),
                    "actor": actor,
                    "action": action,
                    "subject_type": kind,
                    "subject_id": subject,
                    "details": details,
                }
                for i, (actor, action, kind, subject, details) in enumerate(old)
            ],
        )
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(select(chain.EVENTS).order_by(chain.EVENTS.c.seq)).mappings().all()
        assert [(r["seq"], r["action"], r["actor_type"], r["actor_id"]) for r in rows] == [
            (1, "tenant.updated", "user", str(user)),
            (2, "delivery.sent", "system", None),
            (3, "delivery.failed", "system", None),
            (4, "email.unsubscribed", "system", "unsubscribe-link"),
        ]
        assert rows[0]["object_type"] == "tenant" and rows[0]["object_id"] == tenant
        assert rows[1]["details"] == {"outcome": "sent"}
        assert chain.verify(conn).broken is None
    migrate.downgrade(url, "0012")  # and back, the entries kept
    with engine.connect() as conn:
        actors = conn.scalars(sa.select(OLD_EVENTS.c.actor).order_by(OLD_EVENTS.c.at)).all()
    engine.dispose()
    assert actors == [str(user), "system", "system", "unsubscribe-link"]


def test_settings_default_to_a_year() -> None:
    assert Settings(database_url="sqlite://").audit_retention_days == 365
