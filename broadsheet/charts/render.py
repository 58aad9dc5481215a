"""Server-side rendering of chart specs to SVG and PNG with vl-convert, for exports and mail.

vl-convert embeds its own JavaScript runtime with Vega and several Vega-Lite versions, so it
needs no browser, Node or network. Its default compiler is the newest bundled Vega-Lite (v6),
whatever the spec's ``$schema`` says; our specs are v5, so the newest bundled v5 is asked for.
Text is measured and drawn with the fonts installed on the machine (``fc-list``): an image
built without any font renders its charts with no text at all.

Every spec we build carries its data inline (``datasets``), so rendering never fetches a URL;
``allowed_base_urls=[]`` makes sure a stray URL in a spec is refused rather than fetched.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import vl_convert

from broadsheet.charts.base import DATA_NAME


class RenderError(RuntimeError):
    """vl-convert could not compile or draw the spec; the message is its first line."""


def with_data(spec: dict[str, Any], chart_data: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec with ``chart_data`` bound to its named dataset, leaving ``spec`` as it was;
    every text in it valid for the SVG the renderer builds (see :func:`valid_text`)."""
    datasets = spec.get("datasets")
    merged = dict(datasets) if isinstance(datasets, dict) else {}
    merged[DATA_NAME] = chart_data
    made: dict[str, Any] = valid_text({**spec, "datasets": merged})
    return made


# Characters XML 1.0 forbids (C0 controls but tab, newline and return; lone surrogates; the
# two non-characters U+FFFE/FFFF). The renderer writes text into SVG and aborts the whole
# process on one, so each becomes U+FFFD, the replacement character.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def valid_text(value: Any) -> Any:
    """``value`` with every string in it (dict keys too) made valid XML text."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    return value


def to_svg(spec: dict[str, Any], chart_data: list[dict[str, Any]]) -> str:
    try:
        return vl_convert.vegalite_to_svg(
            with_data(spec, chart_data), vl_version=vegalite_version(), allowed_base_urls=[]
        )
    except ValueError as exc:
        raise RenderError(_first_line(exc)) from exc


def to_png(spec: dict[str, Any], chart_data: list[dict[str, Any]], *, scale: float = 2.0) -> bytes:
    try:
        return vl_convert.vegalite_to_png(
            with_data(spec, chart_data),
            vl_version=vegalite_version(),
            scale=scale,
            allowed_base_urls=[],
        )
    except ValueError as exc:
        raise RenderError(_first_line(exc)) from exc


@functools.cache
def vegalite_version() -> str:
    """The newest Vega-Lite 5.x this vl-convert bundles (e.g. "5.21")."""
    fives = [v for v in vl_convert.get_vegalite_versions() if v.lstrip("v").startswith("5.")]
    if not fives:
        raise RenderError("this vl-convert bundles no Vega-Lite 5")
    return max(fives, key=lambda v: tuple(int(p) for p in v.lstrip("v").split(".")))


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # vl-convert's message is a heading, then the JavaScript error, then its stack.
    if not lines:
        return type(exc).__name__
    return ": ".join([lines[0].rstrip(":"), *lines[1:2]])
