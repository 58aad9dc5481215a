"""Benchmark: a scheduler tick over 100,000 enabled schedules in PostgreSQL.

    .venv/bin/python bench/scheduler.py [--schedules 100000] [--due 1000] [--ticks 5]
        [--database postgresql://postgres@127.0.0.1:5432/broadsheet_bench]

Prints, each beside a baseline measured in the same run:

- the time of one tick that finds and fires the due schedules (executions and jobs created,
  next runs advanced, read model kept), against the bare indexed query that finds them:
  the median of --ticks ticks, each with --due schedules due, after one warm-up tick;
- the time to compute ``next_run_at`` for every schedule (mixed cron expressions and zones),
  against cronsim alone listing the same fires with no zone or business-day rules.

The database named by --database is emptied and migrated first.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text

from broadsheet import migrate, models
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import make_engine, session_scope
from broadsheet.kit import dburl
from broadsheet.kit.gc import freeze_startup_objects
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from broadsheet.schedules import cron, ticker

EXPRESSIONS = ["0 9 * * 1", "*/15 * * * *", "0 0 1 * *", "30 2 * * *", "0 */6 * * *", "5 4 * * 0"]
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Lord_Howe"]


def fresh_database(url: str) -> None:
    target = dburl.normalize(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}
        ):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(url)


def populate(runtime: Runtime, count: int, due: list[datetime]) -> None:
    """``count`` schedules: one due at each instant of ``due``, in turn, the rest a day after
    the last of them."""
    from broadsheet import demo

    now = utc_now()
    with session_scope(runtime.sessions) as session:
        demo.install(session, runtime.settings, "bench")
        owner = auth.system_principal(session, "bench", demo.DEMO_USER)
        report = session.scalar(
            select(models.ReportDefinition).where(
                models.ReportDefinition.name == "Strategy Scorecard"
            )
        )
        assert report is not None
        rows = []
        combos = itertools.cycle(itertools.product(EXPRESSIONS, ZONES))
        for i in range(count):
            expression, zone = next(combos)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": owner.tenant_id,
                    "report_id": report.id,
                    "name": f"schedule {i}",
                    "schedule": expression,
                    "timezone": zone,
                    "parameters": {
                        "startDate": "{{today().minusDays(7)}}",
                        "endDate": "{{today()}}",
                    },
                    "enabled": True,
                    "recipients": [],
                    "export_format": "csv",
                    "misfire_policy": "run_once",
                    "misfire_grace_seconds": 3600,
                    "business_days_only": False,
                    "created_at": now,
                    "updated_at": now,
                    "next_run_at": due[i] if i < len(due) else due[-1] + timedelta(days=1),
                    "created_by": owner.user_id,
                }
            )
        views = [
            {
                "id": row["id"],
                "tenant_id": row["tenant_id"],
                "report_id": report.id,
                "report_name": report.name,
                "schedule_name": row["name"],
                "schedule": row["schedule"],
                "timezone": row["timezone"],
                "enabled": True,
                "next_run_at": row["next_run_at"],
                "recipient_count": 0,
                "export_format": "csv",
            }
            for row in rows
        ]
        for start in range(0, count, 5000):
            session.execute(insert(models.ReportSchedule), rows[start : start + 5000])
            session.execute(insert(models.ScheduledReportView), views[start : start + 5000])
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # as autovacuum would have, long before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/broadsheet_bench"
    )
    args = parser.parse_args()
    fresh_database(args.database)
    import tempfile

    settings = Settings(
        database_url=args.database, secret_key="bench", data_dir=tempfile.mkdtemp(), demo=False
    )
    runtime = Runtime.build(settings)
    # Rounds a few seconds apart, early in a quarter hour: no schedule fired in one round
    # (the most frequent fire every 15 minutes) is due again in a later one.
    base = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=15)
    base = base.replace(minute=base.minute - base.minute % 15) + timedelta(minutes=1)
    rounds = [base + timedelta(seconds=5 * r) for r in range(args.ticks + 1)]
    populate(runtime, args.schedules, [at for at in rounds for _ in range(args.due)])
    freeze_startup_objects()  # as `broadsheet scheduler` does once it has started

    def fire(at: datetime) -> tuple[float, float]:
        """One round: the bare query finding the due schedules, then the tick firing them."""
        now = at + timedelta(seconds=2)
        started = time.perf_counter()
        with runtime.engine.connect() as conn:
            found = conn.execute(
                select(models.ReportSchedule.id).where(
                    models.ReportSchedule.enabled.is_(True),
                    models.ReportSchedule.next_run_at <= now,
                )
            ).all()
        query_s = time.perf_counter() - started
        started = time.perf_counter()
        fired = ticker.tick(runtime, now)
        tick_s = time.perf_counter() - started
        assert len(found) == len(fired) == args.due, (len(found), len(fired))
        return tick_s, query_s

    # A scheduler runs for days: its first tick (imports, statement and cron caches) is not
    # the one it spends its life on, so it is shown apart.
    first_s, _ = fire(rounds[0])
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    timings = [fire(at) for at in rounds[1:]]
    if profile is not None:
        import pstats

        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    ticks = sorted(t for t, _ in timings)
    tick_s = statistics.median(ticks)
    query_s = statistics.median(q for _, q in timings)

    with runtime.engine.connect() as conn:
        cadences = [
            cron.Cadence.parse(expression, timezone=zone)
            for expression, zone in conn.execute(
                select(models.ReportSchedule.schedule, models.ReportSchedule.timezone)
            ).all()
        ]
    from cronsim import CronSim  # type: ignore[import-untyped, unused-ignore]

    now = utc_now()
    naive = now.replace(tzinfo=None)
    started = time.perf_counter()
    for c in cadences:
        next(CronSim(c.expression, naive))
    bare_s = time.perf_counter() - started
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for c in cadences:
            cron.next_fire(c, now)
        runs.append(time.perf_counter() - started)
    next_s = statistics.median(runs)
    runtime.engine.dispose()

    print(f"{args.schedules:,} enabled schedules in PostgreSQL, {args.due:,} due per tick")
    print(
        f"tick: {tick_s * 1000:.0f} ms for {args.due:,} fires, median of {len(ticks)} "
        f"({ticks[0] * 1000:.0f} to {ticks[-1] * 1000:.0f} ms; target < 100 ms); "
        f"the bare indexed query finding them: {query_s * 1000:.1f} ms "
        f"(ratio {tick_s / query_s:.0f}x); the process's first tick: {first_s * 1000:.0f} ms"
    )
    print(
        f"next_run_at for all {len(cadences):,}: {next_s:.2f} s (target < 3 s); "
        f"cronsim alone, naive: {bare_s:.2f} s (ratio {next_s / bare_s:.2f}x)"
    )


if __name__ == "__main__":
    main()
