"""Moving and resizing a widget on the 12-column grid, one step per button press (``Move
left`` … ``Shorter``) or to a place a pointer dropped it.

A move steps over the widgets in its way to the next free place in that direction, so a
widget can be moved past another by keyboard; a resize, or a drop, that would cover another
widget is refused, naming it. Refusals are 422s at ``widgets[N].position``, the field the
service names for a place, so the page shows them at that widget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broadsheet.dashboards.schemas import GRID_COLUMNS, MAX_Y
from broadsheet.errors import ValidationFailed

MOVES = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
RESIZES = {"wider": (1, 0), "narrower": (-1, 0), "taller": (0, 1), "shorter": (0, -1)}
ACTIONS = (*MOVES, *RESIZES, "place", "remove")
EDGES = {
    "left": "it is at the left edge of the grid",
    "right": "it is at the right edge of the grid",
    "up": "it is at the top of the grid",
    "down": "it is at the bottom of the grid",
    "wider": "it reaches the right edge of the grid",
    "narrower": "it is one column wide already",
    "taller": "it is as tall as a widget can be",
    "shorter": "it is one row tall already",
}

Box = tuple[int, int, int, int]  # x, y, width, height


def arrange(
    widgets: list[dict[str, Any]], index: int, action: str, form: Mapping[str, str]
) -> None:
    """Change ``widgets[index]``'s position or size (in place) as ``action`` asks."""
    widget = widgets[index]
    box = _box(widget)
    others = [(_box(w), w) for i, w in enumerate(widgets) if i != index]
    if action in MOVES:
        box = _moved(box, action, others)
    elif action in RESIZES:
        box = _resized(box, action, others)
    elif action == "place":
        box = _placed(box, form, others)
    else:
        raise ValidationFailed.field("action", f"{action!r} is not a way to arrange a widget")
    widget["position"] = {"x": box[0], "y": box[1]}
    widget["size"] = {"width": box[2], "height": box[3]}


def _moved(box: Box, action: str, others: list[tuple[Box, dict[str, Any]]]) -> Box:
    dx, dy = MOVES[action]
    x, y, width, height = box
    while True:
        x, y = x + dx, y + dy
        if x < 0 or y < 0 or x + width > GRID_COLUMNS or y > MAX_Y:
            raise _place_error(f"it cannot move {action}: " + _edge_or_full(box, action))
        if _covered((x, y, width, height), others) is None:
            return x, y, width, height


def _edge_or_full(box: Box, action: str) -> str:
    x, y, width, _ = box
    at_edge = {
        "left": x == 0,
        "right": x + width == GRID_COLUMNS,
        "up": y == 0,
        "down": y == MAX_Y,
    }[action]
    return EDGES[action] if at_edge else f"there is no free place {_toward(action)} it"


def _toward(action: str) -> str:
    return {"left": "left of", "right": "right of", "up": "above", "down": "below"}[action]


def _resized(box: Box, action: str, others: list[tuple[Box, dict[str, Any]]]) -> Box:
    dw, dh = RESIZES[action]
    x, y, width, height = box
    width, height = width + dw, height + dh
    if width < 1 or height < 1 or x + width > GRID_COLUMNS or height > MAX_Y:
        raise _place_error(f"it cannot be made {action}: {EDGES[action]}")
    _check_free((x, y, width, height), others, f"it cannot be made {action}")
    return x, y, width, height


def _placed(box: Box, form: Mapping[str, str], others: list[tuple[Box, dict[str, Any]]]) -> Box:
    """Where a pointer dropped it (0-based x and y), kept inside the grid."""
    x, y, width, height = box
    width = _clamp(form.get("width"), width, 1, GRID_COLUMNS)
    height = _clamp(form.get("height"), height, 1, MAX_Y)
    x = _clamp(form.get("x"), x, 0, GRID_COLUMNS - width)
    y = _clamp(form.get("y"), y, 0, MAX_Y)
    placed = (x, y, width, height)
    _check_free(placed, others, "it cannot go there")
    return placed


def _check_free(box: Box, others: list[tuple[Box, dict[str, Any]]], what: str) -> None:
    other = _covered(box, others)
    if other is not None:
        name = other.get("title") or other["id"]
        raise _place_error(f"{what}: it would cover “{name}”")


def _covered(box: Box, others: list[tuple[Box, dict[str, Any]]]) -> dict[str, Any] | None:
    x, y, width, height = box
    for (ox, oy, ow, oh), widget in others:
        if x < ox + ow and ox < x + width and y < oy + oh and oy < y + height:
            return widget
    return None


def _place_error(message: str) -> ValidationFailed:
    # The index is filled in by the caller (it knows which widget this is).
    return ValidationFailed.field("position", message)


def _box(widget: Mapping[str, Any]) -> Box:
    position, size = widget["position"], widget["size"]
    return int(position["x"]), int(position["y"]), int(size["width"]), int(size["height"])


def _clamp(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        value = default
    return min(max(value, low), high)
