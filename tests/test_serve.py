"""``broadsheet serve`` as people start it: a real process tree answering on a real port."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx2 as httpx

from tests.serving import free_port, serving

KEY = "bs_serve_test_key_0123456789abcdef"


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not gone nor a zombie (an ended process this sandbox's init has not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_serve_answers_from_several_processes_and_stops_them_all(tmp_path: Path) -> None:
    """…and logs, with BROADSHEET_LOG_FORMAT=json, every line of every process (uvicorn's
    included) as one JSON object, a request's lines with its id, and no key."""
    port = free_port()
    env = {
        **os.environ,
        "BROADSHEET_DATA_DIR": str(tmp_path),
        "BROADSHEET_DATABASE_URL": "",
        "BROADSHEET_BOOTSTRAP_ADMIN_KEY": KEY,
        "BROADSHEET_SERVE_PROCESSES": "2",
        "BROADSHEET_LOG_FORMAT": "json",
    }
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path / "serve.log", port, env) as server:
        workers = children(server.pid)
        answering = [
            pid for pid in workers if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(answering) == 2, workers  # and Python's resource tracker beside them
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            for _ in range(20):  # connections land on either process; every one answers
                with httpx.Client(base_url=base, headers=headers, timeout=10) as fresh:
                    assert fresh.get("/api/v1/reports").status_code == 200
            listed = client.get("/api/v1/reports", params={"limit": 100}).json()
            traced = client.get("/api/v1/reports/nope", headers={"X-Request-ID": "serve-test-1"})
            assert traced.status_code == 404
            assert traced.headers["x-request-id"] == "serve-test-1"
            # Links the server makes name the port it was told to serve on, in every process.
            board = client.post("/api/v1/dashboards", json={"name": "B", "widgets": []}).json()
            for _ in range(4):
                embed = client.post(f"/api/v1/dashboards/{board['id']}/embed", json={}).json()
                assert embed["url"].startswith(f"{base}/embed/dashboards/"), embed
        # Start-up work ran once, before the processes started: the demo is there once.
        names = [r["name"] for r in listed]
        assert len(names) == len(set(names)) == 5, names
    written = (tmp_path / "serve.log").read_text()
    lines = [json.loads(line) for line in written.splitlines() if line.strip()]
    assert {line["logger"] for line in lines} >= {"uvicorn.error", "uvicorn.access"}
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    traced_lines = [line for line in lines if line.get("request_id") == "serve-test-1"]
    assert [line["logger"] for line in traced_lines] == ["uvicorn.access"]
    assert "/api/v1/reports/nope" in traced_lines[0]["msg"]
    assert KEY not in written
    # Python's resource tracker, a helper of the processes, ends once it sees them gone.
    deadline = time.monotonic() + 10
    while [pid for pid in workers if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "a process of serve's outlived it"
