"""Download file names: safe everywhere, readable, and honest about non-ASCII names.

``Monthly Performance Report`` generated 2024-02-01 09:00 in its zone becomes
``monthly-performance-report_2024-02-01_0900.xlsx``. No path separators, quotes or control
characters survive; a name with no ASCII letters keeps its own script in RFC 6266's
``filename*`` and falls back to ``report`` in the plain ``filename``. A dashboard's PDF is
named by the day alone (``trading-overview_2024-02-01.pdf``), by the same rules.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from urllib.parse import quote

from broadsheet.exports.base import in_zone, report_zone

MAX_STEM = 80
MINUTE = "%Y-%m-%d_%H%M"  # a result's export: when it was generated
DAY = "%Y-%m-%d"  # a dashboard's PDF: the day it was made


def slug(text: str, *, ascii_only: bool) -> str:
    """Words of ``text`` joined by hyphens, lower case, at most 80 characters (may be empty)."""
    normal = unicodedata.normalize("NFKD" if ascii_only else "NFC", text)
    if ascii_only:
        normal = normal.encode("ascii", "ignore").decode()
    # Keep letters and digits of any script (or ASCII only); everything else separates words.
    words = re.findall(r"[a-z0-9]+" if ascii_only else r"[^\W_]+", normal.lower())
    return "-".join(words)[:MAX_STEM].strip("-")


def stem(
    report_name: str,
    generated_at: datetime,
    timezone: str,
    *,
    stamp: str = MINUTE,
    fallback: str = "report",
) -> tuple[str, str]:
    """(ASCII stem, Unicode stem) without extension: the name's slug (``fallback`` when it
    has no ASCII words) and the time in ``timezone`` as ``stamp`` formats it."""
    local = in_zone(generated_at, report_zone(timezone)).strftime(stamp)
    plain = slug(report_name, ascii_only=True) or fallback
    unicode_name = slug(report_name, ascii_only=False) or plain
    return f"{plain}_{local}", f"{unicode_name}_{local}"


def content_disposition(
    report_name: str,
    generated_at: datetime,
    timezone: str,
    extension: str,
    *,
    stamp: str = MINUTE,
    fallback: str = "report",
) -> str:
    plain, unicode_name = stem(report_name, generated_at, timezone, stamp=stamp, fallback=fallback)
    header = f'attachment; filename="{plain}.{extension}"'
    if unicode_name != plain:
        header += f"; filename*=UTF-8''{quote(f'{unicode_name}.{extension}', safe='')}"
    return header
