"""Text as the XML of an inline-string cell: escaped for XML and for Excel, vectorised.

XML needs ``&<>`` escaped, and a CR as ``&#13;`` since a parser turns a raw CR into LF.
XML 1.0 cannot carry other control characters (or U+FFFE/U+FFFF) at all, so Excel has its own
escape, ``_xHHHH_``, which it decodes when it reads a cell; a text that already contains such
a pattern is escaped too (``_x005F_xHHHH_``) so that Excel shows it as it is. That second kind
is rare and done in Python, only for the values that need it.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

LS = pa.large_string()
_SPECIAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_"
_PY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PY_LITERAL_ESCAPE = re.compile(r"(_x[0-9A-Fa-f]{4}_)")


def escaped(values: pa.Array) -> pa.Array:
    """Large strings ready to go between ``<t>`` and ``</t>``."""
    special = pc.fill_null(pc.match_substring_regex(values, _SPECIAL), False)
    if pc.any(special).as_py():
        picked = pc.filter(values, special).to_pylist()
        fixed = pa.array([_excel_escape(text) for text in picked], LS)
        values = pc.replace_with_mask(values, special, fixed)
    if not pc.any(pc.match_substring_regex(values, "[&<>\r]")).as_py():
        return values
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        values = pc.replace_substring(values, char, entity)
    return values


def _excel_escape(text: str) -> str:
    """Excel's own escapes: a literal ``_xHHHH_`` kept literal, control characters encoded."""
    text = _PY_LITERAL_ESCAPE.sub(r"_x005F\1", text)
    return _PY_CONTROL.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


def as_text(values: pa.Array) -> pa.Array:
    """Any column as large strings: a cast where Arrow has one, else ``str`` of each value.
    Binary is always hex, even when some of it happens to be valid UTF-8."""
    kind = values.type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        try:
            return pc.cast(values, LS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array([_python_text(value) for value in values.to_pylist()], LS)


def _python_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
