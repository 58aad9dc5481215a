"""Benchmark: each main web page's server time beside the API calls that read the same data,
and the JavaScript each page loads.

    .venv/bin/python bench/pages.py [--requests 200] [--rows 5000]

Starts a real ``broadsheet serve`` (SQLite in a temporary data folder, the demo, a bootstrap
admin key, one process) on a free loopback port and, through the API, gives it what the pages
show: a report with parameters and a line chart whose result holds ``--rows`` rows (and two
earlier results), three dozen more reports for the list, a schedule of that report with three
runs, each sent to two email recipients (the outbox: no SMTP server), and a dashboard of six
widgets over the demo's reports (two charts, three tables, a metric) whose results are warm,
beside five empty ones. An admin signs in to the web UI as a person does (the sign-in form and
its CSRF token).

- Server time: for each page, ``--requests`` requests (after a warm-up of 10), one after
  another over one kept-alive connection, each in turn with the API calls that read the data
  the page shows (one after another too: the time a client of the API would wait for it).
  Printed: medians and p95s, and the ratio of the medians, page / API (goal <= 1.5x).
- JavaScript: every ``<script src>`` of each page (and what a module script imports), fetched
  as the browser would and gzipped at level 9; the page's total against 40 kB. Pages with the
  SQL editor or vega-embed's interactive charts are exempt, and said to be.

Last, the server process's peak memory and a line per goal.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2 as httpx
from serving import Server, serving

from broadsheet.datasources import demo_dataset

KEY = "bs_bench_pages_key_for_the_benchmark"
EMAIL = "bench-admin@example.com"
PASSWORD = "a long password for the pages benchmark"  # noqa: S105 (a throwaway server)
RATIO_GOAL = 1.5
JS_GOAL = 40_000  # bytes of gzipped JavaScript a page without an editor or chart may load
WARM_UP = 10
PRICE_ROWS = demo_dataset.DAYS * len(demo_dataset.TICKERS)  # the demo's prices table
LIST_REPORTS = 36
EMPTY_DASHBOARDS = 5
SCHEDULE_RUNS = 3
# What a script makes a page: an exemption from the JavaScript goal, by the script's file.
EXEMPT = {
    "vendor/sql-editor.js": "SQL editor (CodeMirror)",
    "vendor/charts.js": "interactive charts (vega-embed)",
}
# What a script loads in turn: a module's static imports, and any script's import("...").
STATIC_IMPORTS = re.compile(r"""\b(?:from|import)\s*["']([^"']+)["']""")
DYNAMIC_IMPORTS = re.compile(r"""\bimport\(\s*["']([^"']+)["']""")


def checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- what the pages show --------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    report_id: str
    result_id: str
    schedule_id: str
    dashboard_id: str


def rows_report(rows: int) -> dict[str, Any]:
    """A report over the demo's prices whose result has ``rows`` rows (copies of the table
    where it has fewer), with two date parameters and a line chart."""
    copies = math.ceil(rows / PRICE_ROWS)
    query = (
        f"WITH RECURSIVE copies(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM copies"
        f" WHERE n < {copies - 1})"
        " SELECT p.date, p.ticker, p.open, p.high, p.low, p.close, p.volume, copies.n AS copy"
        " FROM prices AS p CROSS JOIN copies WHERE p.date BETWEEN :startDate AND :endDate"
        f" ORDER BY p.date, p.ticker, copies.n LIMIT {rows}"
    )
    dates = [
        {"name": "startDate", "label": "Start Date", "type": "date", "required": True},
        {"name": "endDate", "label": "End Date", "type": "date", "defaultValue": "now()"},
    ]
    chart = {
        "id": "close-chart",
        "type": "line",
        "title": "Close by ticker",
        "dataMapping": {"x": "date", "y": "close", "series": "ticker"},
    }
    return {
        "name": "Prices, every row",
        "description": f"{rows} rows of daily prices, for the pages benchmark.",
        "category": "markets",
        "dataSource": demo_dataset.SOURCE_NAME,
        "query": query,
        "parameters": dates,
        "visualizations": [chart],
        "tags": ["prices", "bench"],
    }


def generate(api: httpx.Client, report_id: str, parameters: dict[str, str]) -> str:
    """A completed result of the report with these values, waited for."""
    job = checked(api.post(f"/api/v1/reports/{report_id}/generate", json=parameters))
    deadline = time.monotonic() + 120
    while job["status"] not in ("completed", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise SystemExit(f"a job did not end within 120 s: {job}")
        time.sleep(0.1)
        job = checked(api.get(f"/api/v1/reports/jobs/{job['id']}"))
    if job["status"] != "completed":
        raise SystemExit(f"a job of the benchmark's report did not complete: {job}")
    return str(job["resultId"])


def list_reports(api: httpx.Client) -> None:
    """More reports for the list's pages, in three categories with a few tags."""
    for number in range(LIST_REPORTS):
        checked(
            api.post(
                "/api/v1/reports",
                json={
                    "name": f"Trades of strategy {number:02}",
                    "description": "Each trade of one strategy, newest first.",
                    "category": ("trading", "risk", "operations")[number % 3],
                    "dataSource": demo_dataset.SOURCE_NAME,
                    "query": "SELECT * FROM trades ORDER BY executed_at DESC",
                    "tags": [f"desk-{number % 4}", "trades"],
                },
            )
        )


def schedule(api: httpx.Client, report_id: str) -> str:
    """A weekday schedule of the report to two recipients, run now a few times."""
    body = {
        "reportId": report_id,
        "name": "Prices every weekday",
        "schedule": "0 7 * * 1-5",
        "timezone": "Europe/London",
        "parameters": {"startDate": "2000-01-01"},
        "exportFormat": "csv",
        "recipients": [
            {"type": "email", "address": "ann@example.com"},
            {"type": "email", "address": "bob@example.com"},
        ],
    }
    schedule_id = str(checked(api.post("/api/v1/schedules", json=body))["id"])
    # Started together: one after another, the runs took three times as long to end.
    runs = [checked(api.post(f"/api/v1/schedules/{schedule_id}/run")) for _ in range(SCHEDULE_RUNS)]
    deadline = time.monotonic() + 120
    for execution in runs:
        # Its emails too: sent later, they would be work beside the first pages timed.
        while execution["status"] not in ("completed", "failed") or any(
            d["status"] in ("pending", "sending") for d in execution["deliveries"]
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"a schedule's run did not end within 120 s: {execution}")
            time.sleep(0.1)
            execution = checked(api.get(f"/api/v1/executions/{execution['id']}"))
    return schedule_id


def dashboard(api: httpx.Client, reports: dict[str, str]) -> str:
    """Six widgets over the demo's reports, read until every one is ready (warm)."""
    since = (date.today() - timedelta(days=365)).isoformat()
    dates = {"startDate": since, "endDate": date.today().isoformat()}

    def widget(number: int, kind: str, report: str, **more: Any) -> dict[str, Any]:
        """The widget, two to a row; ``more``: its source's fields, or a table's page size."""
        source = {"reportId": reports[report], "parameters": dates}
        made: dict[str, Any] = {
            "id": f"w{number}",
            "type": kind,
            "title": report,
            "source": source,
            "position": {"x": number % 2 * 6, "y": number // 2 * 4},
            "size": {"width": 6, "height": 2 if kind == "metric" else 4},
        }
        if kind == "report":
            made["options"] = more
        else:
            source.update(more)
        return made

    widgets = [
        widget(0, "visualization", "Monthly Performance Report", visualizationId="perf-chart"),
        widget(1, "visualization", "Price History", visualizationId="ohlc"),
        widget(2, "report", "Trading Activity", pageSize=20),
        widget(3, "report", "Usage Summary", pageSize=20),
        widget(4, "report", "Strategy Scorecard", pageSize=10),
        widget(5, "metric", "Monthly Performance Report", column="return", aggregate="sum"),
    ]
    # An hour between refreshes: the results stay fresh through the run, no read queues a job.
    body = {"name": "Markets", "refreshInterval": 3600, "widgets": widgets}
    made = str(checked(api.post("/api/v1/dashboards", json=body))["id"])
    for _ in range(20):
        document = checked(api.get(f"/api/v1/dashboards/{made}", params={"wait": 30}))
        states = [w["data"]["status"] for w in document["widgets"]]
        if any(s in ("failed", "unavailable") for s in states):
            raise SystemExit(f"the dashboard's widgets failed: {document['widgets']}")
        if all(s == "ready" for s in states):
            break
    else:
        raise SystemExit("the dashboard's widgets were not ready after 20 reads of ?wait=30")
    for number in range(EMPTY_DASHBOARDS):
        checked(api.post("/api/v1/dashboards", json={"name": f"Desk {number}", "widgets": []}))
    return made


def seed(api: httpx.Client, rows: int) -> Seeded:
    listed = checked(api.get("/api/v1/reports", params={"limit": 100}))
    demo = {r["name"]: str(r["id"]) for r in listed}
    report_id = str(checked(api.post("/api/v1/reports", json=rows_report(rows)))["id"])
    end = date.today().isoformat()
    for start in ("2000-01-03", "2000-01-02"):  # earlier results, listed beside the newest
        generate(api, report_id, {"startDate": start, "endDate": end})
    result_id = generate(api, report_id, {"startDate": "2000-01-01", "endDate": end})
    list_reports(api)
    return Seeded(report_id, result_id, schedule(api, report_id), dashboard(api, demo))


# --- signing in and reading pages -------------------------------------------------------------


class Tags(HTMLParser):
    """A page's scripts (``src`` and ``type``) and its forms' CSRF token."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[str, str]] = []
        self.csrf: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.scripts.append((str(found["src"]), found.get("type") or ""))
        if tag == "input" and found.get("name") == "csrf_token":
            self.csrf = found.get("value")


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def sign_in(web: httpx.Client) -> None:
    token = parsed(checked_page(web, "/login")).csrf
    form = {"email": EMAIL, "password": PASSWORD, "csrf_token": token or ""}
    answer = web.post("/login", data=form)
    if answer.status_code != 303 or answer.headers.get("location") != "/reports":
        raise SystemExit(f"signing in failed: {answer.status_code} {answer.text[:300]}")


def checked_page(web: httpx.Client, path: str) -> str:
    response = web.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return response.text


# --- server time ---------------------------------------------------------------------------


@dataclass
class Pair:
    page: str
    api: list[str]  # what a client of the API reads for the same data, one after another
    page_seconds: list[float] = field(default_factory=list)
    api_seconds: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if not self.api:
            return None
        return statistics.median(self.page_seconds) / statistics.median(self.api_seconds)


def pairs(seeded: Seeded) -> list[Pair]:
    report, result = seeded.report_id, seeded.result_id
    reports = "/api/v1/reports"
    return [
        Pair("/reports", [f"{reports}?limit=20"]),
        Pair(f"/reports/{report}", [f"{reports}/{report}", f"{reports}/{report}/results?limit=10"]),
        Pair(f"/reports/{report}/run", [f"{reports}/{report}"]),
        Pair(
            f"/results/{result}",
            [
                f"{reports}/results/{result}?page=1&pageSize=50",
                f"{reports}/{report}",
                f"{reports}/{report}/results?limit=10",
            ],
        ),
        Pair("/schedules", ["/api/v1/schedules?limit=20"]),
        Pair(
            f"/schedules/{seeded.schedule_id}",
            [
                f"/api/v1/schedules/{seeded.schedule_id}",
                f"/api/v1/schedules/{seeded.schedule_id}/executions?limit=20",
            ],
        ),
        Pair("/dashboards", ["/api/v1/dashboards?limit=20"]),
        Pair(f"/dashboards/{seeded.dashboard_id}", [f"/api/v1/dashboards/{seeded.dashboard_id}"]),
        Pair("/admin", []),  # counts of sources, users and keys: no API reads them
        Pair("/admin/datasources", ["/api/v1/datasources"]),
        Pair("/admin/audit", ["/api/v1/audit?limit=50"]),
    ]


def timed(client: httpx.Client, paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - started


def server_time(web: httpx.Client, api: httpx.Client, pair: Pair, requests: int) -> None:
    """The page and its API calls in turn, so drift in the machine's speed hits both alike."""
    for _ in range(WARM_UP):
        timed(web, [pair.page])
        if pair.api:
            timed(api, pair.api)
    for _ in range(requests):
        pair.page_seconds.append(timed(web, [pair.page]))
        if pair.api:
            pair.api_seconds.append(timed(api, pair.api))


def short(path: str) -> str:
    """The path with ids as {id}: the table's rows fit a line."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", path)


def print_server_times(found: list[Pair], requests: int) -> None:
    print(f"\nServer time: {requests} requests each after {WARM_UP} to warm up, in turn")
    print(f"{'page':<22}{'p50 ms':>8}{'p95 ms':>8}{'API p50':>9}{'API p95':>9}{'ratio':>7}  API")
    for pair in found:
        page = f"{statistics.median(pair.page_seconds) * 1000:>8.1f}"
        page += f"{percentile(pair.page_seconds, 95) * 1000:>8.1f}"
        if pair.ratio is None:
            print(f"{short(pair.page):<22}{page}{'-':>9}{'-':>9}{'-':>7}  (none reads this)")
            continue
        api = f"{statistics.median(pair.api_seconds) * 1000:>9.1f}"
        api += f"{percentile(pair.api_seconds, 95) * 1000:>9.1f}"
        mark = "" if pair.ratio <= RATIO_GOAL else " ABOVE GOAL"
        calls = " + ".join(short(p).removeprefix("/api/v1") for p in pair.api)
        print(f"{short(pair.page):<22}{page}{api}{pair.ratio:>6.2f}x  {calls}{mark}")


# --- JavaScript ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scripts:
    page: str
    sizes: dict[str, int]  # gzipped bytes by static file
    exempt: list[str]  # why the page may load more than JS_GOAL

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def static_name(url: str) -> str:
    return urlsplit(url).path.removeprefix("/static/")


def scripts_of(web: httpx.Client, page: str, cache: dict[str, bytes]) -> Scripts:
    """Every script the page loads, and every one those import, gzipped."""
    waiting = [(urljoin(page, src), kind) for src, kind in parsed(checked_page(web, page)).scripts]
    sizes: dict[str, int] = {}
    while waiting:
        url, kind = waiting.pop()
        name = static_name(url)
        if name in sizes:
            continue
        if url not in cache:
            response = web.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code}")
            cache[url] = response.content
        body = cache[url]
        sizes[name] = len(gzip.compress(body, 9))
        text = body.decode(errors="replace")
        imported = DYNAMIC_IMPORTS.findall(text)
        if kind == "module":
            imported += STATIC_IMPORTS.findall(text)
        waiting += [(urljoin(url, i), "module") for i in imported]
    exempt = [why for name, why in EXEMPT.items() if name in sizes]
    return Scripts(page, sizes, exempt)


def print_scripts(found: list[Scripts]) -> None:
    print(f"\nJavaScript each page loads, gzipped (level 9); goal <= {JS_GOAL / 1000:g} kB")
    print(f"{'page':<22}{'kB':>8}  verdict{'':<36}scripts")
    for s in found:
        if s.exempt:
            verdict = "exempt: " + ", ".join(s.exempt)
        else:
            verdict = "ok" if s.total <= JS_GOAL else "ABOVE GOAL"
        listed = ", ".join(f"{n} {b / 1000:.1f}" for n, b in sorted(s.sizes.items()))
        print(f"{short(s.page):<22}{s.total / 1000:>8.1f}  {verdict:<43}{listed}")


# --- the run -------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace, server: Server) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(base_url=server.base_url, headers=auth, timeout=60) as api,
        httpx.Client(base_url=server.base_url, timeout=60) as web,
    ):
        started = time.perf_counter()
        seeded = seed(api, args.rows)
        sign_in(web)
        results = f"/api/v1/reports/{seeded.report_id}/results?limit=1"
        shown = checked(api.get(results))[0]["rowCount"]
        print(
            f"seeded in {time.perf_counter() - started:.1f} s: a result of {shown} rows (asked"
            f" {args.rows}), {LIST_REPORTS + 1} reports beside the demo's, a schedule with"
            f" {SCHEDULE_RUNS} runs, a dashboard of 6 warm widgets beside {EMPTY_DASHBOARDS} empty"
        )
        timings = pairs(seeded)
        for pair in timings:
            server_time(web, api, pair, args.requests)
        print_server_times(timings, args.requests)
        pages = [p.page for p in timings] + ["/reports/new", f"/reports/{seeded.report_id}/edit"]
        cache: dict[str, bytes] = {}
        scripts = [scripts_of(web, page, cache) for page in pages]
        print_scripts(scripts)
    rss = server.peak_rss()
    known = f"{rss / 2**20:.0f} MiB" if rss else "not known"
    print(f"\nserver peak RSS: {known} (the serve process; chart renderers apart)")
    verdicts(timings, scripts)


def verdicts(timings: list[Pair], scripts: list[Scripts]) -> None:
    ratios = {short(p.page): p.ratio for p in timings if p.ratio is not None}
    over = [f"{page} {ratio:.2f}x" for page, ratio in ratios.items() if ratio > RATIO_GOAL]
    highest = max(ratios, key=lambda page: ratios[page])
    if over:
        said = f"ABOVE GOAL on {len(over)} of {len(ratios)}: {', '.join(over)}"
    else:
        said = f"ok on all {len(ratios)} (highest {highest} {ratios[highest]:.2f}x)"
    print(f"verdict, server time <= {RATIO_GOAL}x the API: {said}")
    held = [s for s in scripts if not s.exempt]
    heavy = [f"{short(s.page)} {s.total / 1000:.1f} kB" for s in held if s.total > JS_GOAL]
    if heavy:
        said = f"ABOVE GOAL on {', '.join(heavy)}"
    else:
        largest = max(s.total for s in held)
        exempt = len(scripts) - len(held)
        said = f"ok on all {len(held)} (largest {largest / 1000:.1f} kB; {exempt} pages exempt)"
    print(
        f"verdict, JavaScript <= {JS_GOAL / 1000:g} kB gzipped without an editor or chart: {said}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="Timed requests a page.")
    parser.add_argument("--rows", type=int, default=5000, help="Rows of the result shown.")
    args = parser.parse_args()
    if args.requests < 1 or args.rows < 1:
        parser.error("--requests and --rows must be at least 1")
    print(
        "Web pages against the API reading the same data, one server process (SQLite), "
        f"loopback, sequential; cpu count {os.cpu_count()}"
    )
    settings = {
        "BROADSHEET_BOOTSTRAP_ADMIN_EMAIL": EMAIL,
        "BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
        # One process answers every request: sequential requests need no more, and its peak
        # memory is the server's.
        "BROADSHEET_SERVE_PROCESSES": "1",
    }
    with serving(KEY, settings) as server:
        benchmark(args, server)


if __name__ == "__main__":
    main()
