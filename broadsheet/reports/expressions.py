"""Date expressions for parameter defaults and scheduled parameters: ``now()``,
``today().minusDays(7)``, ``{{ now().startOfMonth().minusMonths(1) }}``.

The language is deliberately tiny and is read by a hand-written tokenizer and parser — never
``eval`` or a template engine — so a definition or schedule can carry an expression without
being able to run anything. The grammar::

    expression := root ("." method)*
    root       := ("now" | "today") "(" ")"
    method     := NAME "(" [INTEGER] ")"
    INTEGER    := ["-"] DIGIT+              (at most 100000 either way)

with whitespace allowed between tokens. ``now()`` is the reference instant in the report's time
zone (an aware datetime), ``today()`` its local date. Calendar methods work on the local wall
time and re-attach the zone, so ``now().startOfDay()`` is local midnight even on a DST day;
``plusHours``/``plusMinutes`` measure elapsed time, so one hour later is always 3600 seconds
later. A wall time that falls twice takes the earlier instant (fold=0, except that a method
which keeps the time of day keeps the occurrence it started from); a wall time that does not
exist becomes the first instant after the gap.

``ExpressionError.position`` is a 0-based offset into the text that was given: the expression
for :func:`evaluate` and :func:`validate`, the whole value for :func:`render` and
:func:`validate_template`.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Literal
from zoneinfo import ZoneInfo

MAX_LENGTH = 500
MAX_CALLS = 50
MAX_ARGUMENT = 100_000

_WHITESPACE = " \t\r\n\f\v"
_DIGITS = "0123456789"
_BARE = re.compile(r"\s*(?:now|today)\s*\(", re.IGNORECASE | re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

Kind = Literal["date", "datetime"]


class ExpressionError(ValueError):
    """An expression or template that cannot be read or evaluated; the message says what was
    expected and where."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)  # both in args, so the error survives pickling
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return self.message


# --- the methods --------------------------------------------------------------------------


class _Time(Enum):
    """What a calendar method does to the time of day of a datetime."""

    keep = "keep"
    start = "start"
    end = "end"


def _add_months(day: date, months: int) -> date:
    # Clamp the day: Mar 31 minus one month is the last day of February.
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    return day.replace(year=year, month=month + 1, day=min(day.day, _days_in(year, month + 1)))


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _quarter_start(day: date) -> date:
    return date(day.year, day.month - (day.month - 1) % 3, 1)


def _quarter_end(day: date) -> date:
    month = day.month - (day.month - 1) % 3 + 2
    return date(day.year, month, _days_in(day.year, month))


@dataclass(frozen=True)
class _Calendar:
    """A method that moves a date; on a datetime it moves the local date and sets the time."""

    move: Callable[[date, int], date]
    time: _Time
    takes_argument: bool


@dataclass(frozen=True)
class _Elapsed:
    """A method that adds a duration on the timeline; datetimes only."""

    unit: timedelta


@dataclass(frozen=True)
class _ToDate:
    pass


_Method = _Calendar | _Elapsed | _ToDate


def _calendar_methods() -> dict[str, _Method]:
    def days(n: int) -> Callable[[date, int], date]:
        return lambda d, k: d + timedelta(days=n * k)

    def months(n: int) -> Callable[[date, int], date]:
        return lambda d, k: _add_months(d, n * k)

    boundaries: dict[str, tuple[Callable[[date, int], date], _Time]] = {
        "startOfDay": (lambda d, _: d, _Time.start),
        "startOfWeek": (lambda d, _: d - timedelta(days=d.weekday()), _Time.start),
        "endOfWeek": (lambda d, _: d + timedelta(days=6 - d.weekday()), _Time.end),
        "startOfMonth": (lambda d, _: d.replace(day=1), _Time.start),
        "endOfMonth": (lambda d, _: d.replace(day=_days_in(d.year, d.month)), _Time.end),
        "startOfQuarter": (lambda d, _: _quarter_start(d), _Time.start),
        "endOfQuarter": (lambda d, _: _quarter_end(d), _Time.end),
        "startOfYear": (lambda d, _: date(d.year, 1, 1), _Time.start),
        "endOfYear": (lambda d, _: date(d.year, 12, 31), _Time.end),
    }
    methods: dict[str, _Method] = {
        name: _Calendar(move, when, takes_argument=False)
        for name, (move, when) in boundaries.items()
    }
    steps = {
        "Days": (days, 1),
        "Weeks": (days, 7),
        "Months": (months, 1),
        "Quarters": (months, 3),
        "Years": (months, 12),
    }
    for unit, (step, size) in steps.items():
        methods[f"plus{unit}"] = _Calendar(step(size), _Time.keep, takes_argument=True)
        methods[f"minus{unit}"] = _Calendar(step(-size), _Time.keep, takes_argument=True)
    return methods


METHODS: dict[str, _Method] = {
    **_calendar_methods(),
    "plusHours": _Elapsed(timedelta(hours=1)),
    "minusHours": _Elapsed(timedelta(hours=-1)),
    "plusMinutes": _Elapsed(timedelta(minutes=1)),
    "minusMinutes": _Elapsed(timedelta(minutes=-1)),
    "toDate": _ToDate(),
}
ROOTS: dict[str, Kind] = {"now": "datetime", "today": "date"}


def _takes_argument(method: _Method) -> bool:
    return isinstance(method, _Elapsed) or (isinstance(method, _Calendar) and method.takes_argument)


# --- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    name: str
    argument: int | None
    position: int  # absolute, as reported in errors


@dataclass(frozen=True)
class _Parsed:
    calls: tuple[_Call, ...]  # the root first


def _suggest(name: str, choices: list[str], suffix: str = "") -> str | None:
    exact = [c for c in choices if c.lower() == name.lower()]
    close = exact or difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]}{suffix}?" if close else None


class _Parser:
    """Reads one expression. Positions in errors are ``offset`` plus the index in ``text``."""

    def __init__(self, text: str, offset: int) -> None:
        self.text = text
        self.offset = offset
        self.pos = 0

    def error(
        self, message: str, at: int | None = None, hint: str | None = None
    ) -> ExpressionError:
        position = self.offset + (self.pos if at is None else at)
        return ExpressionError(f"{message} at {position}" + (f"; {hint}" if hint else ""), position)

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "found the end of the expression"
        return f"found {self.text[self.pos]!r}"

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str, what: str) -> None:
        self.skip()
        if self.peek() != char:
            raise self.error(f"expected {what}", hint=self.found())
        self.pos += 1

    def name(self, what: str) -> tuple[str, int]:
        self.skip()
        start = self.pos
        if not (self.peek().isalpha() or self.peek() == "_"):
            raise self.error(f"expected {what}", hint=self.found())
        # Any letters, so a name with a look-alike letter is reported whole (and unknown).
        while self.peek().isalnum() or self.peek() == "_":
            self.pos += 1
        return self.text[start : self.pos], start

    def integer(self, method: str) -> int:
        self.skip()
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        digits = self.pos
        while self.peek() != "" and self.peek() in _DIGITS:
            self.pos += 1
        if self.pos == digits:
            raise self.error(
                f"expected a whole number as the argument of {method}()", hint=self.found()
            )
        literal = self.text[start : self.pos]
        if self.pos - digits > len(str(MAX_ARGUMENT)) or abs(int(literal)) > MAX_ARGUMENT:
            raise self.error(
                f"argument {literal} is out of range",
                at=start,
                hint=f"at most {MAX_ARGUMENT} either way",
            )
        return int(literal)

    def parse(self) -> _Parsed:
        if len(self.text) > MAX_LENGTH:
            raise self.error(f"expression is longer than {MAX_LENGTH} characters", at=MAX_LENGTH)
        root = self.root()
        calls = [root]
        kind = ROOTS[root.name]
        while True:
            self.skip()
            if self.pos == len(self.text):
                return _Parsed(tuple(calls))
            if self.peek() != ".":
                raise self.error("expected '.' or the end of the expression", hint=self.found())
            if len(calls) > MAX_CALLS:
                raise self.error(f"more than {MAX_CALLS} chained calls")
            self.pos += 1
            call, kind = self.method(kind)
            calls.append(call)

    def root(self) -> _Call:
        name, start = self.name("now() or today()")
        if name not in ROOTS:
            hint = _suggest(name, list(ROOTS), "()") or "expected now() or today()"
            raise self.error(f"unknown function {name!r}", at=start, hint=hint)
        self.expect("(", f"'(' after {name}")
        self.expect(")", f"')': {name}() takes no arguments")
        return _Call(name, None, self.offset + start)

    def method(self, kind: Kind) -> tuple[_Call, Kind]:
        name, start = self.name("a method name after '.'")
        method = METHODS.get(name)
        if method is None:
            hint = _suggest(name, list(METHODS)) or "expected a method such as minusDays"
            raise self.error(f"unknown method {name!r}", at=start, hint=hint)
        if isinstance(method, _Elapsed) and kind == "date":
            raise self.error(
                f"{name}() needs a datetime but is called on a date",
                at=start,
                hint="start from now() and call toDate() last",
            )
        self.expect("(", f"'(' after {name}")
        argument = self.integer(name) if _takes_argument(method) else None
        suffix = "takes one whole number" if argument is not None else "takes no arguments"
        self.expect(")", f"')': {name}() {suffix}")
        result: Kind = "date" if isinstance(method, _ToDate) else kind
        return _Call(name, argument, self.offset + start), result


# --- evaluation ---------------------------------------------------------------------------


def _localize(wall: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The instant whose local time in ``tz`` is ``wall``: the ``fold`` occurrence of a wall
    time that happens twice, the first instant after the gap for one that never happens."""
    back = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) == wall:
        return back
    return _after_gap(wall, tz)


def _after_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """The transition that skipped ``wall``. zoneinfo reads a skipped wall time with the offset
    before the transition (fold=0, an instant after it) or after it (fold=1, an instant before
    it); the transition lies between the two, on a whole second, so bisect the seconds."""
    late = wall.replace(tzinfo=tz, fold=0)
    early = wall.replace(tzinfo=tz, fold=1)
    offset_before = late.utcoffset()
    low = (early.astimezone(UTC) - _EPOCH) // _SECOND
    high = -((_EPOCH - late.astimezone(UTC)) // _SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * _SECOND).astimezone(tz).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return (_EPOCH + high * _SECOND).astimezone(tz)


def _apply(value: date, call: _Call, tz: ZoneInfo) -> date:
    method = METHODS[call.name]
    amount = call.argument or 0
    if isinstance(method, _ToDate):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(method, _Elapsed):
        assert isinstance(value, datetime), "the parser only allows these on datetimes"
        return (value.astimezone(UTC) + method.unit * amount).astimezone(tz)
    if not isinstance(value, datetime):
        return method.move(value, amount)
    wall = value.replace(tzinfo=None)
    day = method.move(wall.date(), amount)
    if method.time is _Time.keep:
        return _localize(datetime.combine(day, wall.time()), tz, value.fold)
    moment = time.min if method.time is _Time.start else time.max
    return _localize(datetime.combine(day, moment), tz)


def _run(parsed: _Parsed, reference: datetime, tz: ZoneInfo) -> date | datetime:
    root, *chain = parsed.calls
    try:
        now = reference.astimezone(tz)
    except (OverflowError, ValueError):
        raise ExpressionError(
            f"the reference instant is out of range in {tz} at {root.position}", root.position
        ) from None
    value: date = now if root.name == "now" else now.date()
    for call in chain:
        try:
            value = _apply(value, call, tz)
        except (OverflowError, ValueError):
            raise ExpressionError(
                f"{call.name}() at {call.position} goes beyond the supported dates "
                "(years 1 to 9999)",
                call.position,
            ) from None
    return value


def _check_reference(reference: datetime) -> None:
    if reference.utcoffset() is None:
        raise ValueError("the reference must be a timezone-aware instant")


# --- templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    text: str
    offset: int  # where the expression starts in the whole value


def _split(value: str) -> list[str | _Template]:
    """The value cut into literal text and ``{{ … }}`` templates; unbalanced braces fail."""
    pieces: list[str | _Template] = []
    at = 0
    while True:
        opening = value.find("{{", at)
        closing = value.find("}}", at)
        if closing != -1 and (opening == -1 or closing < opening):
            raise ExpressionError(f"'}}}}' without a matching '{{{{' at {closing}", closing)
        if opening == -1:
            pieces.append(value[at:])
            return pieces
        end = value.find("}}", opening + 2)
        if end == -1:
            raise ExpressionError(f"'{{{{' at {opening} is never closed by '}}}}'", opening)
        nested = value.find("{{", opening + 2, end)
        if nested != -1:
            raise ExpressionError(f"'{{{{' inside a template at {nested}", nested)
        pieces += [value[at:opening], _Template(value[opening + 2 : end], opening + 2)]
        at = end + 2


def _plan(value: str) -> list[str | _Parsed]:
    pieces = _split(value)
    if len(pieces) == 1 and _BARE.match(value):
        return [_Parser(value, 0).parse()]
    return [p if isinstance(p, str) else _Parser(p.text, p.offset).parse() for p in pieces]


def _single(plan: list[str | _Parsed]) -> _Parsed | None:
    """The one expression of a plan that is nothing else (but whitespace), if it is that."""
    parsed = [p for p in plan if isinstance(p, _Parsed)]
    if len(parsed) == 1 and all(isinstance(p, _Parsed) or not p.strip() for p in plan):
        return parsed[0]
    return None


# --- the public API -----------------------------------------------------------------------


def evaluate(text: str, reference: datetime, tz: ZoneInfo) -> date | datetime:
    """Evaluate one bare expression such as ``today().minusDays(7)``. ``reference`` is the
    aware instant ``now()`` stands for; the result is in ``tz``."""
    _check_reference(reference)
    return _run(_Parser(text, 0).parse(), reference, tz)


def validate(text: str) -> None:
    """Parse only, so a definition can be checked when it is saved."""
    _Parser(text, 0).parse()


def is_expression(text: str) -> bool:
    """Whether ``text`` is meant as an expression or template rather than a literal: it starts
    with ``now(`` or ``today(`` (any case, so a misspelling still gets a helpful error) or it
    holds template braces (so an unbalanced one does too)."""
    return bool(_BARE.match(text)) or "{{" in text or "}}" in text


def is_single_expression(value: str) -> bool:
    """Whether :func:`render` gives a date or datetime for ``value`` rather than text: a bare
    expression or exactly one template with nothing but whitespace around it. Looks at the
    shape only; :func:`validate_template` says whether the expression itself is sound."""
    try:
        pieces = _split(value)
    except ExpressionError:
        return False
    if len(pieces) == 1:
        return bool(_BARE.match(value))
    templates = [p for p in pieces if isinstance(p, _Template)]
    return len(templates) == 1 and all(isinstance(p, _Template) or not p.strip() for p in pieces)


def render(value: str, reference: datetime, tz: ZoneInfo) -> str | date | datetime:
    """A bare expression, or a value that is one template, gives its date or datetime; templates
    inside other text are replaced by their ISO 8601 text; text without any is returned as is."""
    _check_reference(reference)
    plan = _plan(value)
    single = _single(plan)
    if single is not None:
        return _run(single, reference, tz)
    if all(isinstance(p, str) for p in plan):
        return value
    return "".join(p if isinstance(p, str) else _run(p, reference, tz).isoformat() for p in plan)


def validate_template(value: str) -> None:
    """Like :func:`render` but parse only: braces balanced and every expression sound."""
    _plan(value)
