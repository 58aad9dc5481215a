"""Benchmark: a 12-widget dashboard, warm against its results read one by one, and cold
under 50 concurrent viewers against one viewer.

    .venv/bin/python bench/dashboard.py [--reads 50] [--viewers 50] [--concurrent 10]
        [--seconds 10] [--poll-wait 2]

Starts a real ``broadsheet serve`` (SQLite in a temporary data folder, the demo, a bootstrap
admin key, its default processes and job threads) on a free loopback port. Each dashboard
has twelve widgets over the five demo reports — five charts, five tables (page sizes 10 to
100) and two metrics (a sum over every row, with the change against the previous result) —
each with a start date of its own, so twelve feeds and twelve results.

- Warm: a dashboard is read with ``?wait=30`` until every widget is ready, refreshed once
  (``POST .../refresh``, so each feed has a second result and the metrics a change) and read
  so again; then ``--reads`` times in turn: one ``GET /api/v1/dashboards/{id}`` against the
  twelve ``GET /api/v1/reports/results/{resultId}`` it stands for, read one after another
  and, as a page would, all at once. A table's result is read at its widget's page size, a
  chart's or a metric's at one row: the chart's data comes with every result read (all the
  result's charts, with its summaries), and one row is the least the results API serves,
  though the metric reads its whole column. Then ``--concurrent`` clients for ``--seconds``
  each: dashboards read a second against rounds of the twelve reads (in turn) a second.
- Cold: a dashboard with new start dates (no result of any feed) read by one viewer, then
  another by ``--viewers`` viewers at once; each viewer polls with ``?wait=`` of
  ``--poll-wait`` seconds (0: no wait, polls 0.2 s apart) until every widget is ready. Jobs
  made are counted from each report's jobs (``trigger=dashboard``, new since the phase
  began) against the dashboard's feeds; "jobs done" is when the last of them completed.

Prints medians and p95s with the ratios (dashboard / results: goal <= 1.5x; jobs made =
feeds), and the server log's error lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2 as httpx
from serving import Server, serving

KEY = "bs_bench_dashboard_key_for_the_benchmark"
GOAL = 1.5
WAIT = 30  # the largest ?wait the API takes
WIDGETS = 12
# Start dates of each dashboard's widgets: this many days before today, plus the widget's
# index, so the three dashboards share no feed.
WARM_DAYS, SINGLE_DAYS, CROWD_DAYS = 365, 400, 430
MONTHLY, SCORECARD, PRICES = "Monthly Performance Report", "Strategy Scorecard", "Price History"
TRADING, USAGE = "Trading Activity", "Usage Summary"


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:>9.1f}{percentile(values, 95) * 1000:>9.1f}"


def checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return response.json()


# --- the dashboards ------------------------------------------------------------------------


def widgets(reports: dict[str, str], days_back: int) -> list[dict[str, Any]]:
    """Twelve widgets in four rows of the grid, each with a start date of its own."""
    end = date.today().isoformat()

    def source(name: str, number: int, **more: Any) -> dict[str, Any]:
        start = (date.today() - timedelta(days=days_back + number)).isoformat()
        return {
            "reportId": reports[name],
            "parameters": {"startDate": start, "endDate": end},
            **more,
        }

    def chart(number: int, name: str, viz: str, x: int, y: int, width: int) -> dict[str, Any]:
        return {
            "id": f"w{number}",
            "type": "visualization",
            "title": f"{name}: {viz}",
            "source": source(name, number, visualizationId=viz),
            "position": {"x": x, "y": y},
            "size": {"width": width, "height": 4},
        }

    def table(number: int, name: str, size: int, x: int, y: int, width: int) -> dict[str, Any]:
        return {
            "id": f"w{number}",
            "type": "report",
            "title": name,
            "source": source(name, number),
            "position": {"x": x, "y": y},
            "size": {"width": width, "height": 4},
            "options": {"pageSize": size},
        }

    def metric(number: int, name: str, column: str, x: int) -> dict[str, Any]:
        return {
            "id": f"w{number}",
            "type": "metric",
            "title": f"{name}: {column}",
            "source": source(name, number, column=column, aggregate="sum"),
            "position": {"x": x, "y": 16},
            "size": {"width": 6, "height": 2},
        }

    return [
        chart(0, MONTHLY, "perf-chart", 0, 0, 6),
        chart(1, PRICES, "ohlc", 6, 0, 6),
        chart(2, TRADING, "notional-by-side", 0, 4, 4),
        chart(3, SCORECARD, "alpha-bar", 4, 4, 4),
        chart(4, USAGE, "notional-vs-trades", 8, 4, 4),
        table(5, MONTHLY, 20, 0, 8, 6),
        table(6, TRADING, 50, 6, 8, 6),
        table(7, USAGE, 20, 0, 12, 4),
        table(8, PRICES, 100, 4, 12, 4),
        table(9, SCORECARD, 10, 8, 12, 4),
        metric(10, MONTHLY, "return", 0),
        metric(11, USAGE, "notional", 6),
    ]


async def make_dashboard(
    client: httpx.AsyncClient, reports: dict[str, str], name: str, days_back: int
) -> str:
    body = {
        "name": name,
        # An hour, so the warm results stay fresh through the run and no read queues a job.
        "refreshInterval": 3600,
        "widgets": widgets(reports, days_back),
    }
    made = checked(await client.post("/api/v1/dashboards", json=body))
    return str(made["id"])


def feeds(document: dict[str, Any]) -> set[tuple[str, str]]:
    """The dashboard's (report, parameters) pairs, as its widgets resolved them."""
    return {
        (w["source"]["reportId"], repr(sorted(w["data"]["parameters"].items())))
        for w in document["widgets"]
        if w["data"]["parameters"] is not None
    }


def all_ready(document: dict[str, Any]) -> bool:
    return all(w["data"]["status"] == "ready" for w in document["widgets"])


def failures(document: dict[str, Any]) -> list[str]:
    return [
        f"{w['id']}: {w['data']['error']}"
        for w in document["widgets"]
        if w["data"]["status"] in ("failed", "unavailable")
    ]


async def read_until_ready(
    client: httpx.AsyncClient, dashboard: str, fresher_than: dict[str, str] | None = None
) -> dict[str, Any]:
    """Read with the longest wait until every widget is ready (and, given the result ids of
    an earlier read, shows a newer result)."""
    for _ in range(20):
        document: dict[str, Any] = checked(
            await client.get(f"/api/v1/dashboards/{dashboard}", params={"wait": WAIT})
        )
        if failures(document):
            raise SystemExit(f"widgets failed: {failures(document)}")
        renewed = fresher_than is None or all(
            w["data"]["resultId"] != fresher_than[w["id"]] for w in document["widgets"]
        )
        if all_ready(document) and renewed:
            return document
    raise SystemExit(f"the dashboard was not ready after 20 reads of ?wait={WAIT}")


def result_ids(document: dict[str, Any]) -> dict[str, str]:
    return {w["id"]: str(w["data"]["resultId"]) for w in document["widgets"]}


def result_reads(document: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """The results API's reads that stand for the widgets: a table at its page size, a chart
    or a metric at one row."""
    reads = []
    for w in document["widgets"]:
        size = int(w["data"]["pageSize"]) if w["type"] == "report" else 1
        reads.append((f"/api/v1/reports/results/{w['data']['resultId']}", {"pageSize": size}))
    return reads


# --- warm ----------------------------------------------------------------------------------


@dataclass
class Timings:
    name: str
    seconds: list[float] = field(default_factory=list)
    bytes: int = 0


async def timed_get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> int:
    response = await client.get(path, params=params)
    body = await response.aread()
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {body[:300]!r}")
    return len(body)


async def warm_reads(
    client: httpx.AsyncClient, dashboard: str, document: dict[str, Any], reads: int
) -> list[Timings]:
    """One dashboard GET, the twelve result GETs one after another, the twelve at once: in
    turn, so drift in the machine's speed hits all three alike."""
    path = f"/api/v1/dashboards/{dashboard}"
    results = result_reads(document)
    board = Timings("dashboard GET")
    serial = Timings(f"{len(results)} result GETs, in turn")
    together = Timings(f"{len(results)} result GETs, at once")
    for _ in range(3):  # warm-up: connections, caches, lazy imports
        await timed_get(client, path, {})
        await asyncio.gather(*(timed_get(client, p, q) for p, q in results))
    for _ in range(reads):
        started = time.perf_counter()
        board.bytes = await timed_get(client, path, {})
        board.seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        serial.bytes = 0
        for p, q in results:
            serial.bytes += await timed_get(client, p, q)
        serial.seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        together.bytes = sum(await asyncio.gather(*(timed_get(client, p, q) for p, q in results)))
        together.seconds.append(time.perf_counter() - started)
    after = checked(await client.get(path))
    if result_ids(after) != result_ids(document) or not all_ready(after):
        raise SystemExit("the warm dashboard changed results during the reads: not warm")
    return [board, serial, together]


async def throughput(
    client: httpx.AsyncClient,
    dashboard: str,
    document: dict[str, Any],
    clients: int,
    seconds: float,
) -> tuple[float, float, Counter[str]]:
    """Dashboards read a second by ``clients`` concurrent readers, then rounds of the twelve
    result reads a second (each round's twelve in turn), each for ``seconds``."""
    results = result_reads(document)
    errors: Counter[str] = Counter()

    async def rate(one: Any) -> float:
        done = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def reader() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                try:
                    await one()
                except httpx.TransportError as exc:
                    errors[type(exc).__name__] += 1
                else:
                    done += 1

        await asyncio.gather(*(reader() for _ in range(clients)))
        return done / (time.perf_counter() - started)

    async def board() -> None:
        await timed_get(client, f"/api/v1/dashboards/{dashboard}", {})

    async def round_of_results() -> None:
        for p, q in results:
            await timed_get(client, p, q)

    return await rate(board), await rate(round_of_results), errors


# --- cold ----------------------------------------------------------------------------------


@dataclass
class Viewer:
    polls: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)


async def dashboard_jobs(client: httpx.AsyncClient, reports: dict[str, str]) -> dict[str, Any]:
    """Every job marked as made for a dashboard, by id, over the demo reports."""
    found: dict[str, Any] = {}
    for report_id in reports.values():
        offset = 0
        while True:
            page = checked(
                await client.get(
                    f"/api/v1/reports/{report_id}/jobs", params={"limit": 100, "offset": offset}
                )
            )
            found.update({j["id"]: j for j in page if j["trigger"] == "dashboard"})
            if len(page) < 100:
                break
            offset += 100
    return found


@dataclass
class ColdRun:
    viewers: list[Viewer]
    seconds: float  # from the first request to the last viewer's all-ready
    jobs: int  # made for the dashboard during the run
    feeds: int
    jobs_done: float  # from the first request to the last job's completion


async def cold(
    client: httpx.AsyncClient, dashboard: str, viewers: int, poll_wait: int
) -> tuple[list[Viewer], float, datetime, dict[str, Any]]:
    """``viewers`` viewers open the dashboard at once and each polls with ``?wait=poll_wait``
    until every widget is ready; the time from the first request to the last viewer's
    all-ready, the clock then, and the last document seen."""
    path = f"/api/v1/dashboards/{dashboard}"
    last: dict[str, Any] = {}
    gate = asyncio.Event()

    async def viewer() -> Viewer:
        nonlocal last
        seen = Viewer()
        await gate.wait()
        started = time.perf_counter()
        params = {"wait": poll_wait} if poll_wait else {}
        while time.perf_counter() - started < 300:
            try:
                response = await client.get(path, params=params)
            except httpx.TransportError as exc:
                seen.statuses[type(exc).__name__] += 1
                await asyncio.sleep(0.2)
                continue
            seen.polls += 1
            seen.statuses[str(response.status_code)] += 1
            if response.status_code != 200:
                await asyncio.sleep(0.2)
                continue
            document = response.json()
            if failures(document):
                raise SystemExit(f"widgets failed: {failures(document)}")
            if all_ready(document):
                last = document
                break
            if not poll_wait:
                await asyncio.sleep(0.2)
        seen.seconds = time.perf_counter() - started
        return seen

    tasks = [asyncio.create_task(viewer()) for _ in range(viewers)]
    await asyncio.sleep(0.1)  # every viewer waits at the gate
    started, opened = time.perf_counter(), datetime.now(UTC)
    gate.set()
    seen = await asyncio.gather(*tasks)
    return list(seen), time.perf_counter() - started, opened, last


async def cold_phase(
    client: httpx.AsyncClient,
    reports: dict[str, str],
    name: str,
    days_back: int,
    viewers: int,
    poll_wait: int,
) -> ColdRun:
    """A new dashboard read cold: its viewers, time to all ready, jobs made and feeds."""
    dashboard = await make_dashboard(client, reports, name, days_back)
    before = await dashboard_jobs(client, reports)
    seen, took, opened, document = await cold(client, dashboard, viewers, poll_wait)
    made = [v for k, v in (await dashboard_jobs(client, reports)).items() if k not in before]
    if not document:
        raise SystemExit(f"{name}: no viewer saw every widget ready within 300 s")
    ended = max(datetime.fromisoformat(j["completedAt"]) for j in made)
    done = (ended - opened).total_seconds()
    return ColdRun(seen, took, len(made), len(feeds(document)), done)


# --- the run -------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace, server: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    connections = max(args.viewers, args.concurrent, WIDGETS) + 4
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=WAIT + 30
    ) as client:
        listed = checked(await client.get("/api/v1/reports", params={"limit": 100}))
        reports = {r["name"]: str(r["id"]) for r in listed}

        dashboard = await make_dashboard(client, reports, "Warm", WARM_DAYS)
        first = await read_until_ready(client, dashboard)
        # A second result of every feed: the metrics then show a change, and the dashboard
        # reads the newest of two results as it would in use.
        checked(await client.post(f"/api/v1/dashboards/{dashboard}/refresh"))
        document = await read_until_ready(client, dashboard, fresher_than=result_ids(first))
        if len(feeds(document)) != WIDGETS:
            raise SystemExit(f"the warm dashboard has {len(feeds(document))} feeds, not 12")
        metrics = [w for w in document["widgets"] if w["type"] == "metric"]
        if any(w["data"]["previousValue"] is None for w in metrics):
            raise SystemExit("a warm metric has no previous value: the refresh made no result")
        timings = await warm_reads(client, dashboard, document, args.reads)
        boards, rounds, errors = await throughput(
            client, dashboard, document, args.concurrent, args.seconds
        )

        single = await cold_phase(
            client, reports, "Cold, one viewer", SINGLE_DAYS, 1, args.poll_wait
        )
        crowd = await cold_phase(
            client, reports, "Cold, many viewers", CROWD_DAYS, args.viewers, args.poll_wait
        )
    report(args, timings, (boards, rounds, errors), single, crowd)


def report(
    args: argparse.Namespace,
    timings: list[Timings],
    rates: tuple[float, float, Counter[str]],
    single: ColdRun,
    crowd: ColdRun,
) -> None:
    print(f"cpu count {os.cpu_count()}; {WIDGETS} widgets, {WIDGETS} feeds")
    print(f"warm: {args.reads} reads of each, in turn")
    print(f"{'read':<28}{'p50 ms':>9}{'p95 ms':>9}{'bytes':>10}")
    for t in timings:
        print(f"{t.name:<28}{ms(t.seconds)}{t.bytes:>10}")
    board, serial, together = (statistics.median(t.seconds) for t in timings)
    for name, base in (("in turn", serial), ("at once", together)):
        ratio = board / base
        verdict = "ok" if ratio <= GOAL else "ABOVE GOAL"
        print(f"  ratio dashboard / 12 results {name}: {ratio:.2f}x (goal <= {GOAL}x) {verdict}")
    boards, rounds, errors = rates
    lost = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "0"
    print(
        f"warm, {args.concurrent} concurrent readers, {args.seconds:g} s each:"
        f" {boards:.1f} dashboards/s, {rounds:.1f} rounds of 12 results/s"
        f" (ratio {rounds / boards if boards else 0:.2f}x; errors {lost})"
    )
    wait = f"?wait={args.poll_wait}" if args.poll_wait else "no wait, 0.2 s apart"
    print(f"cold: viewers poll with {wait} until all ready")
    print(
        f"{'viewers':<9}{'p50 s':>7}{'max s':>7}{'all s':>7}{'jobs done s':>12}{'polls':>7}"
        f"{'jobs':>6}{'feeds':>7}  statuses"
    )
    for run in (single, crowd):
        times = [v.seconds for v in run.viewers]
        statuses: Counter[str] = Counter()
        for v in run.viewers:
            statuses.update(v.statuses)
        listed = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        polls = sum(v.polls for v in run.viewers)
        verdict = "" if run.jobs == run.feeds else "  JOBS != FEEDS"
        print(
            f"{len(run.viewers):<9}{statistics.median(times):>7.2f}{max(times):>7.2f}"
            f"{run.seconds:>7.2f}{run.jobs_done:>12.2f}{polls:>7}{run.jobs:>6}{run.feeds:>7}"
            f"  {listed}{verdict}"
        )
    print(
        f"  ratio {args.viewers} viewers / 1 viewer, time to all ready:"
        f" {crowd.seconds / single.seconds:.2f}x; to the jobs' end:"
        f" {crowd.jobs_done / single.jobs_done:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50, help="Warm reads of each kind.")
    parser.add_argument("--concurrent", type=int, default=10, help="Warm concurrent readers.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Each concurrent phase, s.")
    parser.add_argument("--viewers", type=int, default=50, help="Cold concurrent viewers.")
    parser.add_argument(
        "--poll-wait", type=int, default=2, choices=range(WAIT + 1), help="Cold polls' ?wait."
    )
    args = parser.parse_args()
    with serving(KEY) as server:
        asyncio.run(benchmark(args, server))


if __name__ == "__main__":
    main()
