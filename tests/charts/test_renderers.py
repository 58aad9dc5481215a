"""The chart renderer runs in processes of its own: one that aborts, hangs or refuses costs
one chart, never the process that serves requests, runs the scheduler or sends mail.

The aborts here are real ones where vl-convert can be made to abort (a control character in
chart text sent past our own cleaning); a renderer that dies on any chart, or hangs, is
simulated by starting a stand-in program instead of the renderer — the only way to make every
chart fail on demand."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.charts import RenderError, renderers, to_svg
from broadsheet.charts.base import DATA_NAME
from broadsheet.deliveries import service as deliveries
from tests import tools
from tests.deliveries.test_delivery_flow import (  # noqa: F401
    Deliverer,
    admin,
    delivering,
    fire_schedule,
    statuses,
)
from tests.deliveries.test_email import Inbox, Serve, serve  # noqa: F401
from tests.factories import Caller
from tests.jobs.helpers import report_id, run
from tests.schedules.test_ticker import create

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"name": DATA_NAME},
    "mark": "bar",
    "encoding": {
        "x": {"field": "name", "type": "nominal"},
        "y": {"field": "total", "type": "quantitative"},
    },
}
ROWS = [{"name": "a", "total": 1}, {"name": "b", "total": 2}]

# Stand-ins for a renderer that always dies mid-chart, and one that never answers.
ABORTS = [sys.executable, "-c", "import os, sys; sys.stdin.buffer.read(4); os.abort()"]
HANGS = [sys.executable, "-c", "import sys, time; sys.stdin.buffer.read(4); time.sleep(600)"]


@pytest.fixture
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Children started by this test only, closed after it."""
    pool = renderers._Pool()
    monkeypatch.setattr(renderers, "_pool", pool)
    yield
    pool.close()


def raw(title: str) -> dict[str, object]:
    """A request as the renderer process receives it, past our own cleaning of text."""
    spec = {**SPEC, "title": title, "datasets": {DATA_NAME: ROWS}}
    return {"kind": "svg", "spec": spec, "scale": 1}


@pytest.mark.usefixtures("fresh_pool")
def test_a_real_abort_costs_one_chart_and_the_next_draws() -> None:
    assert b"<svg" in renderers.draw(raw("fine"))
    (child,) = renderers._pool.idle
    with pytest.raises(renderers.ChildFailed, match=r"stopped while drawing \(killed by SIGABRT"):
        renderers.draw(raw("ctrl\x01char"))  # vl-convert panics on text XML cannot hold
    assert child.process.returncode == -6
    assert renderers._pool.idle == []  # the dead child is not reused
    assert b"<svg" in renderers.draw(raw("after"))


@pytest.mark.usefixtures("fresh_pool")
def test_a_refused_spec_is_an_error_and_the_child_draws_on() -> None:
    to_svg(SPEC, ROWS)
    (child,) = renderers._pool.idle
    with pytest.raises(RenderError, match="could not be drawn") as caught:
        to_svg({**SPEC, "mark": "no-such-mark"}, ROWS)
    assert caught.value.status == 422
    assert renderers._pool.idle == [child]
    assert "<svg" in to_svg(SPEC, ROWS)
    assert child.process.poll() is None


@pytest.mark.usefixtures("fresh_pool")
def test_a_renderer_that_hangs_is_killed_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(renderers, "COMMAND", HANGS)
    monkeypatch.setattr(renderers, "DRAW_TIMEOUT_SECONDS", 1.0)
    with pytest.raises(RenderError, match=r"took longer than 1 s \(killed by SIGKILL\)"):
        to_svg(SPEC, ROWS)
    assert renderers._pool.idle == []


# A stand-in that speaks the protocol and takes 1.5 s a chart.
SLOW = [
    sys.executable,
    "-c",
    "import sys, time\n"
    "while True:\n"
    "    n = sys.stdin.buffer.read(4)\n"
    "    if not n: break\n"
    "    sys.stdin.buffer.read(int.from_bytes(n, 'big'))\n"
    "    time.sleep(1.5)\n"
    "    sys.stdout.buffer.write(b'O' + (2).to_bytes(4, 'big') + b'ok'); sys.stdout.flush()\n",
]
# One that never reads what it is sent.
DEAF = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_waiting_for_a_turn_does_not_eat_the_draw_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(renderers, "COMMAND", SLOW)
    monkeypatch.setattr(renderers, "CHILDREN", 1)
    monkeypatch.setattr(renderers, "DRAW_TIMEOUT_SECONDS", 2.5)
    pool = renderers._Pool()
    monkeypatch.setattr(renderers, "_pool", pool)
    try:
        with ThreadPoolExecutor(3) as drawing:  # 1.5 s each, one at a time: 4.5 s in all
            answers = list(drawing.map(lambda _: renderers.draw(raw("x")), range(3)))
    finally:
        pool.close()
    assert answers == [b"ok"] * 3


@pytest.mark.usefixtures("fresh_pool")
def test_a_renderer_that_never_reads_does_not_hold_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(renderers, "COMMAND", DEAF)
    monkeypatch.setattr(renderers, "DRAW_TIMEOUT_SECONDS", 1.0)
    big = {"kind": "svg", "spec": {"text": "x" * 2_000_000}, "scale": 1}  # past a pipe's buffer
    started = time.monotonic()
    with pytest.raises(renderers.ChildFailed, match="did not take the chart within 1 s"):
        renderers.draw(big)
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("fresh_pool")
def test_a_renderer_that_cannot_start_is_a_failed_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(renderers, "COMMAND", ["/nonexistent/python"])
    with pytest.raises(RenderError, match="could not be started"):
        to_svg(SPEC, ROWS)


@pytest.mark.usefixtures("fresh_pool")
def test_an_idle_renderer_that_was_killed_costs_no_chart() -> None:
    assert "<svg" in to_svg(SPEC, ROWS)
    (child,) = renderers._pool.idle
    child.process.kill()  # as the OOM killer would, while it waits for work
    child.process.wait()
    assert "<svg" in to_svg(SPEC, ROWS)
    (fresh,) = renderers._pool.idle
    assert fresh is not child


def test_the_serving_process_never_loads_the_renderer() -> None:
    program = (
        "import sys\n"
        "from broadsheet.charts import to_png, to_svg\n"
        f"spec, rows = {SPEC!r}, {ROWS!r}\n"
        "assert '<svg' in to_svg(spec, rows) and to_png(spec, rows)[:4] == b'\\x89PNG'\n"
        "print('vl_convert' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_charts_draw_cjk_and_emoji_with_the_packaged_fonts(tmp_path: Path) -> None:
    """Each glyph the PNG draws is compared with a box-free rendering: a missing glyph is a
    hollow box (.notdef), so the CJK label's pixels differ from a box's."""
    from PIL import Image

    def label_ink(text: str) -> int:
        spec = {**SPEC, "title": {"text": text, "fontSize": 40}, "mark": "point"}
        png = renderers.draw({"kind": "png", "spec": {**spec, "datasets": {DATA_NAME: ROWS}},
                              "scale": 1})  # fmt: skip
        path = tmp_path / "c.png"
        path.write_bytes(png)
        image = Image.open(path).convert("L")
        top = image.crop((0, 0, image.width, 50))  # the title's band
        return sum(1 for p in top.tobytes() if p < 128)

    # A box is the same outline whatever the character: two different CJK characters would
    # draw the same ink if they were boxes, and different ink as real glyphs.
    assert label_ink("東") != label_ink("鬱")
    assert label_ink("😀") != label_ink("🚀")


@pytest.mark.usefixtures("fresh_pool")
def test_server_exports_and_mail_survive_a_renderer_that_dies(
    client: TestClient,
    admin: Caller,  # noqa: F811
    sessions: sessionmaker[Session],
    delivering: Deliverer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    job = run(
        client,
        admin,
        report_id(client, admin, "Monthly Performance Report"),
        {"startDate": "2024-05-01", "endDate": "2024-05-31"},
    )
    assert job["status"] == "completed", job
    monkeypatch.setattr(renderers, "COMMAND", ABORTS)
    result = f"/api/v1/reports/results/{job['resultId']}"

    for kind in ("svg", "png"):
        drawn = client.get(f"{result}/visualizations/perf-chart.{kind}", headers=admin.headers)
        assert drawn.status_code == 422, drawn.text
        assert drawn.headers["content-type"] == "application/problem+json"
        assert "killed by SIGABRT" in drawn.json()["detail"]

    document = client.get(f"{result}/export", params={"format": "pdf"}, headers=admin.headers)
    assert document.status_code == 200, document.text
    path = tmp_path / "report.pdf"
    path.write_bytes(document.content)
    text = " ".join(tools.run("pdftotext", path, "-").split())
    assert "Monthly Performance Report" in text
    assert "killed by SIGABRT" in text  # said where the chart would be

    inbox = Inbox()
    runtime = delivering(inbox)
    schedule = create(
        client,
        admin,
        reportId=report_id(client, admin, "Monthly Performance Report"),
        parameters={"startDate": "2024-05-01", "endDate": "2024-05-31"},
        exportFormat="pdf",
        recipients=[{"type": "email", "address": "ann@example.com"}],
    )
    execution = fire_schedule(sessions, runtime, schedule)
    assert deliveries.advance(runtime) == 1
    assert statuses(sessions, execution.id) == {"ann@example.com": "sent"}
    message = inbox.only().message
    kinds = [part.get_content_type() for part in message.walk()]
    assert "application/pdf" in kinds
    assert "image/png" not in kinds  # the chart is left out, the report still goes
    assert client.get("/healthz").status_code == 200


@pytest.mark.usefixtures("fresh_pool")
def test_a_draw_cut_short_by_anything_else_leaves_no_renderer_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "<svg" in to_svg(SPEC, ROWS)
    (child,) = renderers._pool.idle

    def out_of_memory(*args: object) -> bytes:
        raise MemoryError

    monkeypatch.setattr(child, "_read", out_of_memory)
    with pytest.raises(MemoryError):
        to_svg(SPEC, ROWS)
    assert child.process.poll() is not None  # killed, not left half-way through a frame
    assert not renderers._pool.busy and not renderers._pool.idle
    assert "<svg" in to_svg(SPEC, ROWS)


@pytest.mark.usefixtures("fresh_pool")
def test_axis_numbers_print_minus_as_a_hyphen_like_the_tables() -> None:
    rows = [{"name": "a", "total": -2500}, {"name": "b", "total": 1500}]
    svg = to_svg(SPEC, rows)
    assert "-2,500" in svg
    assert "\u2212" not in svg
