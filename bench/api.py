"""Benchmark: the API's read mix under 100 concurrent users, against /healthz on the same server.

    .venv/bin/python bench/api.py [--users 100] [--seconds 10] [--think 0.25]

Starts a real ``broadsheet serve`` (SQLite in a temporary data folder, the demo, a bootstrap
admin key) on a free loopback port, generates one demo result, then runs four phases of
``--seconds`` each with ``--users`` concurrent clients on kept-alive connections:

- ``/healthz`` and the read mix (``GET /api/v1/reports``, ``GET /api/v1/reports/{id}`` and a
  100-row result page, in turn), each without pause and with a think time (uniform, mean
  ``--think`` seconds) between a user's requests;

and prints requests per second, p50/p95/p99 latency and errors (a status other than 200, a
transport error or no answer within ``--timeout``) of each, with the ratio read mix / healthz
of the same run. Last, a burst of 200 concurrent bad requests (malformed ids, bad JSON, bad
keys, out-of-range paging, unknown ids) must all be answered 4xx within 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2 as httpx
from serving import Server, serving

KEY = "bs_bench_api_key_for_the_load_benchmark"
BURST = 200
BURST_DEADLINE = 10.0


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Answers a second (a timeout is in the latencies, not among the answers)."""
        answered = len(self.latencies) - self.errors["timeout"]
        return answered / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


async def demo_result(client: httpx.AsyncClient) -> tuple[list[str], str]:
    """The demo reports' ids and one generated result of the Monthly Performance Report."""
    reports = (await client.get("/api/v1/reports", params={"limit": 100})).json()
    monthly = next(r["id"] for r in reports if r["name"] == "Monthly Performance Report")
    body = {"startDate": "2000-01-01", "endDate": time.strftime("%Y-%m-%d")}
    job = (await client.post(f"/api/v1/reports/{monthly}/generate", json=body)).json()
    for _ in range(600):
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        await asyncio.sleep(0.1)
        job = (await client.get(f"/api/v1/reports/jobs/{job['id']}")).json()
    if job["status"] != "completed":
        raise SystemExit(f"the demo report did not generate: {job}")
    return [r["id"] for r in reports], job["resultId"]


async def run_phase(
    client: httpx.AsyncClient,
    phase: Phase,
    paths: Callable[[int], str],
    users: int,
    seconds: float,
    think: float,
) -> Phase:
    started = time.perf_counter()
    deadline = started + seconds

    async def user(number: int) -> None:
        rng = random.Random(number)
        turn = number  # users start at different points of the mix
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.get(paths(turn))
                await response.aread()
            except httpx.TimeoutException:
                phase.errors["timeout"] += 1
                # Counted in the latencies too, as the whole wait: a timeout is no fast answer.
                phase.latencies.append(time.perf_counter() - sent)
            except httpx.TransportError as exc:
                phase.errors[type(exc).__name__] += 1
            else:
                phase.latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    phase.errors[str(response.status_code)] += 1
            turn += 1
            if think:
                await asyncio.sleep(rng.uniform(0, 2 * think))

    await asyncio.gather(*(user(n) for n in range(users)))
    phase.seconds = time.perf_counter() - started
    return phase


def bad_requests(report_id: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    """Method, path, headers and body of requests that each deserve a 4xx."""
    auth = {"Authorization": f"Bearer {KEY}"}
    as_json = {**auth, "Content-Type": "application/json"}
    kinds: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", "/api/v1/reports/not-a-uuid", auth, None),
        ("GET", "/api/v1/reports/results/00000000-0000-0000-0000-000000000000", auth, None),
        ("POST", "/api/v1/reports", as_json, b'{"name": '),
        ("POST", f"/api/v1/reports/{report_id}/generate", as_json, b"[NaN"),
        ("GET", "/api/v1/reports", {"Authorization": "Bearer bs_not_a_key"}, None),
        ("GET", "/api/v1/reports", {}, None),
        ("GET", "/api/v1/reports?limit=-1", auth, None),
        ("GET", "/api/v1/reports/jobs/%00", auth, None),
    ]
    return [kinds[i % len(kinds)] for i in range(BURST)]


async def burst(base_url: str, report_id: str) -> tuple[float, Counter[str]]:
    """All at once, each on a connection of its own; statuses (or what went wrong) counted."""
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=BURST_DEADLINE) as c:

        async def one(method: str, path: str, headers: dict[str, str], body: bytes | None) -> str:
            try:
                response = await c.request(method, path, headers=headers, content=body)
            except httpx.TimeoutException:
                return "unanswered"
            except httpx.TransportError as exc:
                return type(exc).__name__
            return str(response.status_code)

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(*r) for r in bad_requests(report_id)))
        return time.perf_counter() - started, Counter(outcomes)


async def benchmark(args: argparse.Namespace, server: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=args.users, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=args.timeout
    ) as client:
        report_ids, result_id = await demo_result(client)
        result_page = f"/api/v1/reports/results/{result_id}?page=1&pageSize=100"

        def read_mix(turn: int) -> str:
            # The list, one definition and a result page in turn: a third of the mix each.
            if turn % 3 == 0:
                return "/api/v1/reports"
            if turn % 3 == 1:
                return f"/api/v1/reports/{report_ids[(turn // 3) % len(report_ids)]}"
            return result_page

        def healthz(_: int) -> str:
            return "/healthz"

        await run_phase(client, Phase("warm-up"), read_mix, 10, 1.0, 0.0)
        phases: list[tuple[Phase, Phase]] = []
        for think in (0.0, args.think):
            label = "no pause" if not think else f"think {think:g} s"
            base = await run_phase(
                client, Phase(f"/healthz, {label}"), healthz, args.users, args.seconds, think
            )
            reads_phase = await run_phase(
                client, Phase(f"read mix, {label}"), read_mix, args.users, args.seconds, think
            )
            phases.append((base, reads_phase))
    took, outcomes = await burst(server.base_url, report_ids[0])
    report(args, phases, took, outcomes)


def report(
    args: argparse.Namespace, phases: list[tuple[Phase, Phase]], took: float, outcomes: Counter[str]
) -> None:
    print(
        f"{args.users} users, {args.seconds:g} s per phase, timeout {args.timeout:g} s"
        f" (cpu count {os.cpu_count()})"
    )
    print(f"{'phase':<26}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  errors")
    for pair in phases:
        for phase in pair:
            ms = "".join(f"{phase.percentile(p) * 1000:>9.1f}" for p in (50, 95, 99))
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(phase.errors.items())) or "0"
            print(f"{phase.name:<26}{phase.rate:>9.1f}{ms}  {errors}")
        base, reads = pair
        ratio = reads.rate / base.rate if base.rate else 0.0
        print(f"  ratio read mix / healthz: {ratio:.2f} (target >= 0.25 without pause)")
    fours = sum(v for k, v in outcomes.items() if k.startswith("4"))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    verdict = "ok" if fours == BURST and took <= BURST_DEADLINE else "FAILED"
    print(
        f"burst of {BURST} bad requests: {fours} answered 4xx in {took:.2f} s ({statuses})"
        f" -> {verdict} (target: all 4xx within {BURST_DEADLINE:g} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=0.25, help="Mean pause, seconds.")
    parser.add_argument("--timeout", type=float, default=10.0, help="A request's limit, s.")
    args = parser.parse_args()
    with serving(KEY) as server:
        asyncio.run(benchmark(args, server))


if __name__ == "__main__":
    main()
