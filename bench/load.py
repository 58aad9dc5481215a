"""Benchmark: the API under 100 Locust users, a mix of reads, cached generates, exports and
dashboards, with observability off and on, beside ``/healthz`` under the same load.

    .venv/bin/python bench/load.py [--users 100] [--seconds 60] [--seed 1] [--csv-dir DIR]

Three phases, each on a fresh ``broadsheet serve`` (bench/serving.py: SQLite in a temporary
data folder, the demo, a bootstrap admin key, its default processes), with rate limits raised
out of the way (every user shares one key). In each, Locust runs headless in a subprocess
(``bench/load_users.py``): ``--users`` users, all started within 2 s, each pausing 0.5-1.5 s
(uniform) between requests, measured for ``--seconds`` from when the last one started.

1. ``/healthz`` only: the baseline.
2. The mix, observability off. Before it, the Monthly Performance Report gets a cache TTL and
   one result (which the cached generates reuse, and whose CSV and JSON exports are made
   once), and a 12-widget dashboard (bench/dashboard.py's) is read until every widget is
   ready; each kind of request is then made a few times on new connections, so each server
   process has loaded what it needs. Weights: reads 9 (report list, one report, a 100-row
   result page, 3 each), cached generate 1, export 1 (CSV or JSON), dashboard 1.
3. The same mix with metrics (``BROADSHEET_METRICS_TOKEN``; the benchmark scrapes /metrics
   every 5 s), tracing (``BROADSHEET_OTEL_ENDPOINT`` at an OTLP/HTTP sink the benchmark runs,
   which answers 200) and JSON logs (``BROADSHEET_LOG_FORMAT=json``) on; what the scrapes,
   the sink and the log saw is printed, so a setting the server ignores shows.

Prints, per phase, requests, failures (any answer outside 2xx, or a transport error),
requests per second, p50/p95/p99 in ms and the server's peak resident memory (the sum of the
peaks of its processes), the mix's figures by request, and the ratios mix-off p95 / healthz
p95 and mix-on p95 / mix-off p95 against the targets: no failures, p95 <= 100 ms,
observability on within 1.1x of off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
from dashboard import all_ready, failures, widgets
from serving import Server, free_port, serving

KEY = "bs_bench_load_key_for_the_locust_benchmark"
# A throw-away token of a throw-away local server.
METRICS_TOKEN = "bench-load-metrics-token-0123456789"  # noqa: S105
LOCUSTFILE = Path(__file__).with_name("load_users.py")
RAMP_SECONDS = 2.0
SCRAPE_SECONDS = 5.0
P95_TARGET_MS = 100.0
OVERHEAD_TARGET = 1.1
# Every user shares the one key: the default budgets would answer most of the load with 429.
UNLIMITED = {
    "BROADSHEET_RATE_LIMIT": "100000/minute",
    "BROADSHEET_RATE_LIMIT_GENERATE": "100000/minute",
}
CACHED_REPORT = "Monthly Performance Report"
WARM_ROUNDS = 6


@dataclass
class Phase:
    name: str
    slug: str  # for file names
    seconds: float = 0.0
    samples: list[tuple[str, float, str]] = field(default_factory=list)
    peak_rss: int | None = None
    notes: list[str] = field(default_factory=list)

    def times(self, name: str | None = None) -> list[float]:
        return [ms for n, ms, _ in self.samples if name is None or n == name]

    def failures(self, name: str | None = None) -> Counter[str]:
        return Counter(f for n, _, f in self.samples if f and (name is None or n == name))

    @property
    def rate(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- the server's side -----------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux's /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The name, in parentheses, may hold spaces: the parent id is after its end.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def tree_peak_rss(server: Server) -> int | None:
    """The sum of the peak resident memory (VmHWM) of the server's processes: its own and
    those it started (uvicorn's workers), an upper bound of their peak together."""
    total = 0
    for pid in descendants(server.process.pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if "VmHWM:" in line), 0
        )
    return total or server.peak_rss()


def checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_for_job(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(1200):
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
        job = checked(client.get(f"/api/v1/reports/jobs/{job['id']}"))
    if job["status"] != "completed":
        raise SystemExit(f"the report did not generate: {job}")
    return job


def cache_report(client: httpx.Client, report_id: str) -> None:
    """Give the report a day's cache: a repeat generate then reuses the result."""
    definition = checked(client.get(f"/api/v1/reports/{report_id}"))
    checked(
        client.put(f"/api/v1/reports/{report_id}", json={**definition, "cacheTtlSeconds": 86400})
    )


def ready_dashboard(client: httpx.Client, dashboard: str) -> None:
    """Read with the longest wait until every widget shows a result."""
    for _ in range(20):
        document = checked(client.get(f"/api/v1/dashboards/{dashboard}", params={"wait": 30}))
        if failures(document):
            raise SystemExit(f"widgets failed: {failures(document)}")
        if all_ready(document):
            return
    raise SystemExit("the dashboard was not ready after 20 reads of ?wait=30")


def prepare(server: Server, seed: int) -> dict[str, Any]:
    """What the users read: report ids, a cached result, its exports made once, a ready
    dashboard."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        reports = checked(client.get("/api/v1/reports", params={"limit": 100}))
        by_name = {r["name"]: str(r["id"]) for r in reports}
        cached = by_name[CACHED_REPORT]
        cache_report(client, cached)
        parameters = {"startDate": "2000-01-01", "endDate": time.strftime("%Y-%m-%d")}
        job = wait_for_job(
            client, checked(client.post(f"/api/v1/reports/{cached}/generate", json=parameters))
        )
        again = checked(client.post(f"/api/v1/reports/{cached}/generate", json=parameters))
        if not again["cached"]:
            raise SystemExit(f"a repeat generate was not answered from the cache: {again}")
        for fmt in ("csv", "json"):
            export = client.get(
                f"/api/v1/reports/results/{job['resultId']}/export", params={"format": fmt}
            )
            if export.status_code != 200:
                raise SystemExit(
                    f"the {fmt} export failed: {export.status_code} {export.text[:300]}"
                )
        body = {"name": "Load", "refreshInterval": 3600, "widgets": widgets(by_name, 365)}
        dashboard = str(checked(client.post("/api/v1/dashboards", json=body))["id"])
        ready_dashboard(client, dashboard)
    return {
        "seed": seed,
        "key": KEY,
        "reportIds": [str(r["id"]) for r in reports],
        "cachedReportId": cached,
        "parameters": parameters,
        "resultId": str(job["resultId"]),
        "dashboardId": dashboard,
    }


def warm_up(server: Server, plan: dict[str, Any]) -> None:
    """Each kind of request on new connections, so every server process has imported and
    cached what it serves before the measurement."""
    result = f"/api/v1/reports/results/{plan['resultId']}"
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/reports", {}),
        ("GET", f"/api/v1/reports/{plan['reportIds'][0]}", {}),
        ("GET", result, {"params": {"pageSize": 100}}),
        (
            "POST",
            f"/api/v1/reports/{plan['cachedReportId']}/generate",
            {"json": plan["parameters"]},
        ),
        ("GET", f"{result}/export", {"params": {"format": "csv"}}),
        ("GET", f"{result}/export", {"params": {"format": "json"}}),
        ("GET", f"/api/v1/dashboards/{plan['dashboardId']}", {}),
    ]
    headers = {"Authorization": f"Bearer {KEY}"}
    for _ in range(WARM_ROUNDS):
        for method, path, options in requests:
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
                response = client.request(method, path, **options)
                if response.status_code >= 300:
                    raise SystemExit(f"warm-up {method} {path}: {response.status_code}")


# --- observability on: a trace sink and a scraper --------------------------------------------


class TraceSink(BaseHTTPRequestHandler):
    """Answers 200 to OTLP/HTTP exports and counts them."""

    posts = 0
    bytes = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        TraceSink.posts += self.path == "/v1/traces"
        TraceSink.bytes += len(body)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the benchmark's output is its figures


@contextmanager
def trace_sink() -> Iterator[str]:
    sink = ThreadingHTTPServer(("127.0.0.1", free_port()), TraceSink)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sink.server_address[1]}"
    finally:
        sink.shutdown()
        sink.server_close()


@contextmanager
def scraping(server: Server, statuses: Counter[str]) -> Iterator[None]:
    """``GET /metrics`` every few seconds while the block runs, statuses counted."""
    stop = threading.Event()

    def scrape() -> None:
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            while not stop.wait(SCRAPE_SECONDS):
                try:
                    response = client.get("/metrics")
                    response.read()
                    statuses[str(response.status_code)] += 1
                except httpx.TransportError as exc:
                    statuses[type(exc).__name__] += 1

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def log_lines(server: Server) -> tuple[int, int]:
    """The server log's lines, and how many of them are JSON objects."""
    lines = (server.data_dir.parent / "serve.log").read_text(errors="replace").splitlines()
    objects = 0
    for line in lines:
        with suppress(ValueError):
            objects += isinstance(json.loads(line), dict)
    return len(lines), objects


# --- Locust ----------------------------------------------------------------------------------


def locust(
    server: Server, user_class: str, plan: dict[str, Any], args: argparse.Namespace, phase: Phase
) -> None:
    """Run Locust headless in a subprocess and read back its users' samples into ``phase``."""
    spawn_rate = max(args.users / RAMP_SECONDS, 1.0)
    with tempfile.TemporaryDirectory() as folder:
        plan_file, samples_file = Path(folder, "plan.json"), Path(folder, "samples.json")
        plan_file.write_text(json.dumps(plan))
        csv = Path(args.csv_dir or folder, phase.slug)
        csv.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(Path(sys.executable).with_name("locust")),
            *("-f", str(LOCUSTFILE), "--headless", "--only-summary"),
            *("-u", str(args.users), "-r", f"{spawn_rate:g}"),
            *("-t", f"{args.seconds + RAMP_SECONDS:g}s", "--stop-timeout", "0"),
            *("--host", server.base_url, "--csv", str(csv)),
            *("--reset-stats", "--exit-code-on-error", "0", "--loglevel", "WARNING"),
            user_class,
        ]
        env = {**os.environ, "LOAD_PLAN": str(plan_file), "LOAD_SAMPLES": str(samples_file)}
        ran = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if ran.returncode != 0 or not samples_file.exists():
            print(ran.stdout[-3000:], ran.stderr[-3000:], sep="\n")
            raise SystemExit(f"locust exited with {ran.returncode}")
        measured = json.loads(samples_file.read_text())
    # Locust says when its own process was the bottleneck: then the figures understate.
    phase.notes += [line.strip() for line in ran.stderr.splitlines() if "CPU usage" in line]
    if measured["started"] is None:
        raise SystemExit("locust stopped before every user had started")
    phase.seconds = measured["ended"] - measured["started"]
    phase.samples = [(n, float(ms), f) for n, ms, f in measured["samples"]]


def run_phase(
    name: str, slug: str, user_class: str, args: argparse.Namespace, observe: bool
) -> Phase:
    print(f"{name}: starting a server", flush=True)
    phase = Phase(name, slug)
    env = dict(UNLIMITED)
    scrapes: Counter[str] = Counter()
    with trace_sink() as sink_url:
        if observe:
            env |= {
                "BROADSHEET_METRICS_TOKEN": METRICS_TOKEN,
                "BROADSHEET_OTEL_ENDPOINT": sink_url,
                "BROADSHEET_LOG_FORMAT": "json",
            }
        with serving(KEY, env) as server:
            plan: dict[str, Any] = {"seed": args.seed, "key": KEY}
            if user_class == "MixUser":
                plan = prepare(server, args.seed)
                warm_up(server, plan)
            TraceSink.posts = TraceSink.bytes = 0
            with scraping(server, scrapes) if observe else _nothing():
                locust(server, user_class, plan, args, phase)
            phase.peak_rss = tree_peak_rss(server)
            phase.notes.append(f"server processes: {len(descendants(server.process.pid))}")
            if observe:
                lines, objects = log_lines(server)
                phase.notes += [
                    f"/metrics scrapes: {_listed(scrapes)}",
                    f"trace sink: {TraceSink.posts} exports, {TraceSink.bytes} bytes",
                    f"server log: {lines} lines, {objects} of them JSON objects",
                ]
    return phase


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _listed(counts: Counter[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


# --- the report ------------------------------------------------------------------------------


def report(args: argparse.Namespace, base: Phase, off: Phase, on: Phase) -> None:
    print(
        f"\n{args.users} users, think 0.5-1.5 s, {args.seconds:g} s measured per phase"
        f" (cpu count {os.cpu_count()})"
    )
    print(
        f"{'phase':<22}{'requests':>9}{'failures':>9}{'req/s':>8}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'peak RSS MiB':>14}"
    )
    for phase in (base, off, on):
        times = phase.times()
        ms = "".join(f"{percentile(times, p):>8.1f}" for p in (50, 95, 99))
        rss = f"{phase.peak_rss / 2**20:>14.0f}" if phase.peak_rss else f"{'?':>14}"
        failed = sum(phase.failures().values())
        print(f"{phase.name:<22}{len(times):>9}{failed:>9}{phase.rate:>8.1f}{ms}{rss}")
    for phase in (off, on):
        print(f"{phase.name}, by request:")
        print(f"  {'request':<44}{'requests':>9}{'failed':>8}{'p50 ms':>8}{'p95 ms':>8}")
        for name in sorted({n for n, _, _ in phase.samples}):
            times = phase.times(name)
            failed = sum(phase.failures(name).values())
            p50, p95 = percentile(times, 50), percentile(times, 95)
            print(f"  {name:<44}{len(times):>9}{failed:>8}{p50:>8.1f}{p95:>8.1f}")
    for phase in (base, off, on):
        for reason, count in phase.failures().most_common(5):
            print(f"{phase.name}: {count} x {reason}")
        for note in phase.notes:
            print(f"{phase.name}: {note}")
    verdicts(base, off, on)


def verdicts(base: Phase, off: Phase, on: Phase) -> None:
    p95 = {p.name: percentile(p.times(), 95) for p in (base, off, on)}
    slower = p95[off.name] / p95[base.name] if p95[base.name] else 0.0
    overhead = p95[on.name] / p95[off.name] if p95[off.name] else 0.0
    print(f"ratio mix-off p95 / healthz p95: {slower:.2f}")
    verdict = "ok" if overhead <= OVERHEAD_TARGET else "ABOVE TARGET"
    print(f"ratio mix-on p95 / mix-off p95: {overhead:.2f} (target <= {OVERHEAD_TARGET}) {verdict}")
    for phase in (off, on):
        failed = sum(phase.failures().values())
        fast = p95[phase.name] <= P95_TARGET_MS
        print(
            f"{phase.name}: failures {failed} ({'ok' if not failed else 'FAILED'}),"
            f" p95 {p95[phase.name]:.1f} ms ({'ok' if fast else 'ABOVE'} target"
            f" <= {P95_TARGET_MS:g} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="Measured, per phase.")
    parser.add_argument("--seed", type=int, default=1, help="The users' random choices.")
    parser.add_argument("--csv-dir", type=Path, help="Keep Locust's own CSV statistics here.")
    args = parser.parse_args()
    base = run_phase("healthz", "healthz", "HealthzUser", args, observe=False)
    off = run_phase("mix, observability off", "mix-off", "MixUser", args, observe=False)
    on = run_phase("mix, observability on", "mix-on", "MixUser", args, observe=True)
    report(args, base, off, on)


if __name__ == "__main__":
    main()
