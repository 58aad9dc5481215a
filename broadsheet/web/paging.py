"""Page numbers for lists and tables on pages: ``?page=N``, 1-based, and a number past the
end shows the last page (a bookmark to page 9 of a list that shrank still shows something).

Whatever is typed in the address never fails the page: a missing, empty, negative or
non-numeric ``page`` is page 1, and a huge one is the last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

# Far past any list; keeps the offset a small integer whatever is typed.
MAX_PAGE_NUMBER = 10**9


def page_number(raw: str | None) -> int:
    """The page asked for, at least 1 (see the module's rules)."""
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit():
        return 1
    # A very long digit string is past any end: no need to read it whole.
    return max(1, min(int(text[:10]), MAX_PAGE_NUMBER))


@dataclass(frozen=True)
class Pager:
    """Where one page sits in a list of ``total`` items, ``per_page`` a page."""

    page: int
    per_page: int
    total: int

    @classmethod
    def clamped(cls, asked: int, per_page: int, total: int) -> Pager:
        """Page ``asked``, or the last page when ``asked`` is past it."""
        return cls(min(asked, cls.last_of(total, per_page)), per_page, total)

    @staticmethod
    def last_of(total: int, per_page: int) -> int:
        return max(1, -(-total // per_page))

    @property
    def pages(self) -> int:
        return self.last_of(self.total, self.per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first_item(self) -> int:
        """The 1-based position of the page's first item (0 when there are none)."""
        return self.offset + 1 if self.total else 0

    @property
    def last_item(self) -> int:
        return min(self.offset + self.per_page, self.total)

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def link(path: str, query: Mapping[str, object | None]) -> str:
    """``path`` with ``query`` (empty and None values left out, so addresses stay short):
    ``link("/reports", {"q": "sales", "tag": "", "page": 2})`` → ``/reports?q=sales&page=2``."""
    kept = {name: str(value) for name, value in query.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path
