"""The chart renderer's own process: vl-convert, fed specs over a pipe.

vl-convert is native code (Rust with an embedded JavaScript runtime) that can abort the whole
process on input it does not expect — a control character in chart text once did. So it never
runs in a process that serves requests or runs the scheduler: :mod:`broadsheet.charts.renderers`
runs this module's :func:`main` as a child process and talks to it over
its stdin and stdout. A crash here ends this process only; the parent reports a failed render.

The protocol, one request at a time: the parent writes a frame (4-byte big-endian length, then
JSON ``{"kind": "svg"|"png", "spec": …, "scale": …}``); the child answers with one status byte
(``O`` drawn, ``E`` refused), a 4-byte length and the SVG text, PNG bytes or error message.

vl-convert's default compiler is the newest bundled Vega-Lite (v6), whatever the spec's
``$schema`` says; our specs are v5, so the newest bundled v5 is asked for. Text is drawn with
the same packaged fonts as the PDF (:mod:`broadsheet.kit.fonts`) besides any the machine has,
so CJK and emoji come out as letters, not boxes. Every spec carries its data inline, and
``allowed_base_urls=[]`` refuses any URL in a spec rather than fetching it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import IO, Any

OK = b"O"
REFUSED = b"E"


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes, or None when the stream ends first."""
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# d3-format's en-US but for the minus sign: hyphen-minus, as the PDF's data table, the table
# chart and every export print it, not U+2212, which text search and copy-paste miss.
NUMBER_LOCALE = {
    "decimal": ".",
    "thousands": ",",
    "grouping": [3],
    "currency": ["$", ""],
    "minus": "-",
}


def draw(request: dict[str, Any]) -> bytes:
    """One chart, drawn in this process: only ever call this inside the child."""
    import vl_convert

    spec, version = request["spec"], vegalite_version()
    common: dict[str, Any] = {
        "vl_version": version,
        "allowed_base_urls": [],
        "format_locale": NUMBER_LOCALE,
    }
    if request["kind"] == "svg":
        svg: str = vl_convert.vegalite_to_svg(spec, **common)
        return svg.encode()
    png: bytes = vl_convert.vegalite_to_png(spec, scale=float(request.get("scale", 2.0)), **common)
    return png


@functools.cache
def vegalite_version() -> str:
    """The newest Vega-Lite 5.x this vl-convert bundles (e.g. "5.21")."""
    import vl_convert

    fives = [v for v in vl_convert.get_vegalite_versions() if v.lstrip("v").startswith("5.")]
    if not fives:
        raise ValueError("this vl-convert bundles no Vega-Lite 5")
    return max(fives, key=lambda v: tuple(int(p) for p in v.lstrip("v").split(".")))


def first_line(exc: BaseException) -> str:
    """vl-convert's message is a heading, then the JavaScript error, then its stack."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return ": ".join([lines[0].rstrip(":"), *lines[1:2]])


def main() -> None:
    """Answer requests until the parent closes the pipe (or dies: then stdin ends too)."""
    import vl_convert

    from broadsheet.kit import fonts

    # The protocol keeps the real stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    for folder in fonts.font_dirs():
        vl_convert.register_font_directory(str(folder))
    while True:
        header = read_exactly(requests, 4)
        body = read_exactly(requests, int.from_bytes(header, "big")) if header else None
        if body is None:
            return
        try:
            status, out = OK, draw(json.loads(body))
        except Exception as exc:  # a spec it cannot draw: said, and the child goes on
            status, out = REFUSED, first_line(exc).encode()
        answers.write(status + frame(out))
        answers.flush()
