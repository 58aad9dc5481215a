"""Server-side rendering of chart specs to SVG and PNG, for exports, mail and the image API.

vl-convert draws them in renderer processes of their own (:mod:`broadsheet.charts.renderers`),
never in the process that serves requests and runs the scheduler: it is native code that can
abort its process. A renderer that dies or hangs costs one chart, which fails with
:class:`RenderError` like a spec the renderer refuses; exports then say "not drawn" in its
place and mail goes out without it.

Every spec we build carries its data inline (``datasets``), so rendering never fetches a URL.
"""

from __future__ import annotations

import re
from typing import Any

from broadsheet.charts import renderers
from broadsheet.charts.base import DATA_NAME
from broadsheet.errors import BroadsheetError


class RenderError(BroadsheetError):
    """The chart could not be drawn: the renderer refused the spec, or failed drawing it."""

    status = 422
    title = "Unprocessable Content"


def with_data(spec: dict[str, Any], chart_data: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec with ``chart_data`` bound to its named dataset, leaving ``spec`` as it was;
    every text in it valid for the SVG the renderer builds (see :func:`valid_text`)."""
    datasets = spec.get("datasets")
    merged = dict(datasets) if isinstance(datasets, dict) else {}
    merged[DATA_NAME] = chart_data
    made: dict[str, Any] = valid_text({**spec, "datasets": merged})
    return made


# Characters XML 1.0 forbids, which the renderer writes into SVG and aborts on: C0 controls
# but tab, newline and return become a space, as the PDF's data table prints them; lone
# surrogates and the two non-characters U+FFFE/FFFF, which are no text at all, become U+FFFD.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_TEXT = re.compile("[\ud800-\udfff\ufffe\uffff]")


def valid_text(value: Any) -> Any:
    """``value`` with every string in it (dict keys too) made valid XML text."""
    if isinstance(value, str):
        return _NOT_TEXT.sub("\ufffd", _CONTROLS.sub(" ", value))
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    return value


def to_svg(spec: dict[str, Any], chart_data: list[dict[str, Any]]) -> str:
    return _draw("svg", spec, chart_data).decode()


def to_png(spec: dict[str, Any], chart_data: list[dict[str, Any]], *, scale: float = 2.0) -> bytes:
    return _draw("png", spec, chart_data, scale)


def _draw(kind: str, spec: dict[str, Any], data: list[dict[str, Any]], scale: float = 2.0) -> bytes:
    request = {"kind": kind, "spec": with_data(spec, data), "scale": scale}
    try:
        return renderers.draw(request)
    except (renderers.Refused, renderers.ChildFailed) as exc:
        raise RenderError(f"the chart could not be drawn: {exc}") from exc
    except ValueError as exc:  # NaN or infinity in the spec: JSON has no such numbers
        raise RenderError(f"the chart could not be drawn: {exc}") from exc
