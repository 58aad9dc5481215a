"""Locust users for ``bench/load.py``, which runs Locust on this file in a subprocess.

Two kinds of user, picked by class name on Locust's command line, each pausing 0.5-1.5 s
(uniform) between requests:

- ``HealthzUser``: ``GET /healthz`` only, the baseline.
- ``MixUser``: with the bootstrap admin key, mostly reads (the report list, one report, a
  100-row result page), then a cached generate (``POST .../generate`` of parameters whose result
  the cache holds), an export download (CSV or JSON, each kept in storage after the
  first) and a dashboard read (``GET /api/v1/dashboards/{id}``).

What to read comes from the JSON file named by ``LOAD_PLAN`` (written by ``bench/load.py``
after its setup). Every request's exact time is written to the JSON file named by
``LOAD_SAMPLES`` when Locust quits, counted from the moment every user has started: Locust's
own statistics round times to whole milliseconds (coarser above 100 ms), too coarse for a
1.1x ratio of two p95s near 10 ms.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
# The same choices of task and pause in every phase, as far as the users' interleaving allows.
random.seed(PLAN["seed"])


class Recorder:
    """Requests made after every user started: (name, milliseconds, failure or "")."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, float, str]] = []
        self.started: float | None = None
        self.ended: float | None = None

    def request(
        self, name: str, response_time: float, exception: BaseException | None, **_: Any
    ) -> None:
        if self.started is not None and self.ended is None:
            failure = "" if exception is None else str(exception)[:200]
            self.samples.append((name, response_time, failure))

    def spawned(self, **_: Any) -> None:
        self.samples.clear()
        self.started = time.time()

    def stopped(self, **_: Any) -> None:
        self.ended = time.time()

    def write(self, environment: Environment, **_: Any) -> None:
        out = {"started": self.started, "ended": self.ended or time.time()}
        Path(os.environ["LOAD_SAMPLES"]).write_text(json.dumps({**out, "samples": self.samples}))


RECORDER = Recorder()
# Locust's EventHook.add_listener has no annotations.
events.request.add_listener(RECORDER.request)  # type: ignore[no-untyped-call]
events.spawning_complete.add_listener(RECORDER.spawned)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(RECORDER.stopped)  # type: ignore[no-untyped-call]
events.quitting.add_listener(RECORDER.write)  # type: ignore[no-untyped-call]


class CheckedUser(HttpUser):
    """Any answer outside 2xx is a failure, as is a transport error."""

    abstract = True
    wait_time = between(0.5, 1.5)

    def checked(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        with self.client.request(
            method, path, name=name, catch_response=True, **kwargs
        ) as response:
            if 200 <= response.status_code < 300:
                response.success()
                return response
            response.failure(f"{response.status_code}: {response.text[:120]}")
            return None


class HealthzUser(CheckedUser):
    @task
    def healthz(self) -> None:
        self.checked("GET", "/healthz", "/healthz")


class MixUser(CheckedUser):
    """Weights: reads 9, generate 1, export 1, dashboard 1."""

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {PLAN['key']}"

    @task(3)
    def report_list(self) -> None:
        self.checked("GET", "/api/v1/reports", "GET /reports")

    @task(3)
    def one_report(self) -> None:
        report = random.choice(PLAN["reportIds"])
        self.checked("GET", f"/api/v1/reports/{report}", "GET /reports/{id}")

    @task(3)
    def result_page(self) -> None:
        path = f"/api/v1/reports/results/{PLAN['resultId']}"
        params = {"page": 1, "pageSize": 100}
        self.checked("GET", path, "GET /results/{id}?pageSize=100", params=params)

    @task
    def cached_generate(self) -> None:
        path = f"/api/v1/reports/{PLAN['cachedReportId']}/generate"
        name = "POST /reports/{id}/generate (cached)"
        with self.client.post(
            path, json=PLAN["parameters"], name=name, catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:120]}")
            elif not response.json().get("cached"):
                # A queued job is no cached generate: the figures would not be what they say.
                response.failure("the generate was not answered from the cache")
            else:
                response.success()

    @task
    def export(self) -> None:
        fmt = random.choice(("csv", "json"))
        path = f"/api/v1/reports/results/{PLAN['resultId']}/export"
        self.checked(
            "GET", path, f"GET /results/{{id}}/export?format={fmt}", params={"format": fmt}
        )

    @task
    def dashboard(self) -> None:
        self.checked("GET", f"/api/v1/dashboards/{PLAN['dashboardId']}", "GET /dashboards/{id}")
