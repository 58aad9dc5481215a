"""``/metrics`` of ``broadsheet serve`` with two processes: whichever answers the scrape, it
counts the requests both served (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.serving import free_port, serving

TOKEN = "metrics-token-for-serve-0123456789"
ROUTE = "/healthz"


def counted_by_process(folder: Path) -> dict[int, float]:
    """Requests to ROUTE each process wrote into its own counter file."""
    counts: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        for key, value, _, _ in values:
            _, sample, labels, _ = json.loads(key)
            if sample == "broadsheet_http_requests_total" and labels.get("route") == ROUTE:
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def scraped(base: str) -> float:
    """ROUTE's requests in one scrape, on a fresh connection (any process may answer)."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == "broadsheet_http_requests_total" and sample.labels["route"] == ROUTE
    )


def test_two_processes_are_counted_together(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BROADSHEET_DATA_DIR": str(tmp_path),
        "BROADSHEET_DATABASE_URL": "",
        "BROADSHEET_SERVE_PROCESSES": "2",
        "BROADSHEET_METRICS_TOKEN": TOKEN,
        "BROADSHEET_DEMO": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    stale = tmp_path / "metrics" / f"serve-{port}"
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"left by an earlier run")  # cleaned at start
    base = f"http://127.0.0.1:{port}"
    # Two processes start slowly on a busy machine.
    with serving(tmp_path / "serve.log", port, env, ready_within=120):
        assert not (stale / "counter_1.db").exists()
        sent = 0

        def one(_: int) -> int:
            with httpx.Client(base_url=base, timeout=10) as fresh:  # a connection of its own
                return fresh.get(ROUTE).status_code

        with ThreadPoolExecutor(8) as pool:
            # Connections land on either process; send until both have answered some.
            while len(counted_by_process(stale)) < 2 and sent < 800:
                assert set(pool.map(one, range(40))) == {200}
                sent += 40
        by_process = counted_by_process(stale)
        assert len(by_process) == 2 and all(by_process.values()), by_process
        assert sum(by_process.values()) == sent
        for _ in range(6):  # whichever process answers the scrape, it has both counts
            assert scraped(base) == sent
