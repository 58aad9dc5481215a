"""Many rows in one statement, the same on PostgreSQL (json_populate_recordset) and SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.kit import bulk
from tests.factories import Tenancy


def _tenant(tenancy: Tenancy, sessions: sessionmaker[Session]) -> uuid.UUID:
    tenancy.demo("acme")
    with sessions() as session:
        tenant = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
    assert tenant is not None
    return tenant


def test_insert_rows_fills_same_values_and_primary_keys(
    tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    tenant = _tenant(tenancy, sessions)
    with sessions() as session:
        schedule = session.scalars(select(models.ReportSchedule)).first()
    assert schedule is not None  # the demo's weekly schedule
    at = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    rows = [
        {"tenant_id": tenant, "schedule_id": schedule.id, "scheduled_for": at + timedelta(hours=i),
         "status": "pending", "error_message": "it's \"quoted\" — and ünïcode"}
        for i in range(3)
    ]  # fmt: skip
    same = {"trigger": "schedule", "metadata": {"attempts": [1, "two"]}, "retry_count": 0,
            "created_at": at}  # fmt: skip
    with session_scope(sessions) as session:
        recorded = bulk.insert_rows(
            session,
            models.ReportExecution,
            rows,
            same=same,
            skip_conflicts_on=["schedule_id", "scheduled_for"],
            returning=models.ReportExecution.scheduled_for,
        )
    assert sorted(recorded) == [row["scheduled_for"] for row in rows]
    with session_scope(sessions) as session:  # the same instants again: none is inserted
        again = bulk.insert_rows(
            session,
            models.ReportExecution,
            [*rows[:2], {**rows[2], "scheduled_for": at + timedelta(days=1)}],
            same=same,
            skip_conflicts_on=["schedule_id", "scheduled_for"],
            returning=models.ReportExecution.scheduled_for,
        )
    assert again == [at + timedelta(days=1)]
    with sessions() as session:
        stored = session.scalars(
            select(models.ReportExecution).order_by(models.ReportExecution.scheduled_for)
        ).all()
    assert len(stored) == 4 and len({e.id for e in stored}) == 4
    assert all(isinstance(e.id, uuid.UUID) for e in stored)
    first = stored[0]
    assert first.scheduled_for == at and first.scheduled_for.tzinfo is not None
    assert first.details == {"attempts": [1, "two"]} and first.trigger == "schedule"
    assert first.error_message == 'it\'s "quoted" — and ünïcode'


def test_update_rows_sets_and_keeps(tenancy: Tenancy, sessions: sessionmaker[Session]) -> None:
    _tenant(tenancy, sessions)
    with sessions() as session:
        view = session.scalars(select(models.ScheduledReportView)).one()
    before = view.last_run_at
    later = datetime(2031, 1, 6, 14, 0, tzinfo=UTC)
    with session_scope(sessions) as session:
        bulk.update_rows(
            session,
            models.ScheduledReportView,
            [{"id": view.id, "next_run_at": later, "last_run_at": None, "last_run_status": None}],
            values=lambda row: {
                "next_run_at": row["next_run_at"],
                "last_run_at": func.coalesce(
                    row["last_run_at"], models.ScheduledReportView.last_run_at
                ),
                "last_run_status": func.coalesce(row["last_run_status"], "kept"),
            },
        )
    with sessions() as session:
        after = session.get(models.ScheduledReportView, view.id)
    assert after is not None
    assert after.next_run_at == later and after.last_run_at == before
    assert after.last_run_status == "kept"


def test_nothing_to_do_is_no_statement(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        assert bulk.insert_rows(session, models.ReportExecution, []) == []
        bulk.update_rows(session, models.ScheduledReportView, [], values=lambda row: {})
