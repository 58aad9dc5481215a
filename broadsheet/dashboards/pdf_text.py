"""A text widget's Markdown as the dashboard PDF prints it: headings, paragraphs, list items,
quotes, code and rules, each a list of runs of plain text marked bold, italic or code.

The Markdown is parsed (markdown-it, CommonMark, raw HTML off) and only its text is kept: the
template places each run as a string, so nothing in it is Typst markup, and a ``<script>`` in
the source prints as those characters, as the page shows it. Links print their text and, when
it differs, their address; images their description. Nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from broadsheet.exports.pdf import clean_text, template_text

BULLET = "\u2022"


@cache
def _parser() -> MarkdownIt:
    # As markdown.py renders the page's HTML: CommonMark with tables, raw HTML as text.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def blocks(markdown: str) -> list[dict[str, Any]]:
    """The template's blocks: ``{"kind", "level", "marker", "runs"}``; ``kind`` one of
    heading (``level`` 1 to 6), paragraph, item (``level``: list depth from 1, ``marker``: a
    bullet or "3."), quote, code (``runs``: its one plain run), rule (no runs) and table
    (``rows`` of cells of runs, the first ``header`` of them the header, ``aligns``)."""
    reader = _Blocks()
    for token in _parser().parse(clean_text(markdown, limit=None)):
        reader.take(token)
    return reader.made


class _Blocks:
    """Block tokens to blocks, keeping which lists, quotes and heading are open."""

    def __init__(self) -> None:
        self.made: list[dict[str, Any]] = []
        self.lists: list[int | None] = []  # each open list's next number; None: bullets
        self.quotes = 0
        self.marker: str | None = None  # the open list item's marker, until its first block
        self.heading: int | None = None
        self.table: dict[str, Any] | None = None  # the open table, while its rows are read
        self.in_head = False

    def take(self, token: Token) -> None:
        kind = token.type
        if self.table is not None or kind == "table_open":
            self._table(token)
        elif kind.endswith("list_open") or kind.endswith("list_close") or kind == "list_item_open":
            self._list(token)
        elif kind in ("blockquote_open", "blockquote_close"):
            self.quotes += 1 if kind == "blockquote_open" else -1
        elif kind in ("heading_open", "heading_close"):
            self.heading = int(token.tag[1:]) if kind == "heading_open" else None
        elif kind == "inline":
            self._inline(_Runs.of(token.children or []))
        elif kind in ("fence", "code_block"):
            code = token.content.rstrip("\n")
            self.made.append(_block("code", [_run(code, code=True)], level=len(self.lists)))
        elif kind == "hr":
            self.made.append(_block("rule", []))

    def _list(self, token: Token) -> None:
        kind = token.type
        if kind == "bullet_list_open":
            self.lists.append(None)
        elif kind == "ordered_list_open":
            self.lists.append(int(str(token.attrGet("start") or 1)))
        elif kind == "list_item_open":
            number = self.lists[-1]
            self.marker = BULLET if number is None else f"{number}."
            if number is not None:
                self.lists[-1] = number + 1
        else:  # a list's end
            self.lists.pop()

    def _table(self, token: Token) -> None:
        """A GFM table (markdown.py renders them too): rows of cells of runs; ``header``
        rows first, ``aligns`` by column."""
        kind = token.type
        if kind == "table_open":
            self.table = _block("table", [], level=len(self.lists))
            self.table.update(rows=[], header=0, aligns=[])
            return
        table = self.table
        assert table is not None
        if kind == "table_close":
            self.made.append(table)
            self.table = None
        elif kind == "tr_open":
            table["rows"].append([])
            table["header"] += 1 if self.in_head else 0
        elif kind in ("thead_open", "thead_close"):
            self.in_head = kind == "thead_open"
        elif kind in ("th_open", "td_open") and len(table["rows"]) == 1:
            style = str(token.attrGet("style") or "")
            table["aligns"].append(style.removeprefix("text-align:") or "left")
        elif kind == "inline":
            table["rows"][-1].append(_Runs.of(token.children or []))

    def _inline(self, runs: list[dict[str, Any]]) -> None:
        if not runs:
            return
        if self.heading is not None:
            self.made.append(_block("heading", runs, level=self.heading))
        elif self.lists:
            # A list item's later paragraphs are indented like it, without a marker.
            marker, self.marker = self.marker or "", None
            self.made.append(_block("item", runs, level=len(self.lists), marker=marker))
        else:
            self.made.append(_block("quote" if self.quotes else "paragraph", runs))


def _block(
    kind: str, runs: list[dict[str, Any]], *, level: int = 0, marker: str = ""
) -> dict[str, Any]:
    return {"kind": kind, "level": level, "marker": marker, "runs": runs}


class _Runs:
    """Inline tokens to runs of text, each with its marks; neighbours of the same marks
    merged, so a paragraph is a few strings rather than one per word."""

    MARKS = {"strong_open": 1, "strong_close": -1, "em_open": 1, "em_close": -1}

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.bold = self.italic = 0
        self.links: list[str] = []  # open links' addresses, printed after their text

    @classmethod
    def of(cls, children: Sequence[Token]) -> list[dict[str, Any]]:
        made = cls()
        for child in children:
            made.take(child)
        if not any(run["text"].strip() for run in made.runs):
            return []
        return [
            {"t": template_text(r["text"]), "b": r["b"], "i": r["i"], "code": r["code"]}
            for r in made.runs
            if r["text"]
        ]

    def take(self, child: Token) -> None:
        kind = child.type
        texts = {"text": child.content, "softbreak": " ", "hardbreak": "\n"}
        if kind in texts:
            self.add(texts[kind])
        elif kind == "code_inline":
            self.add(child.content, code=True)
        elif kind in self.MARKS:
            if kind.startswith("strong"):
                self.bold += self.MARKS[kind]
            else:
                self.italic += self.MARKS[kind]
        elif kind == "link_open":
            self.links.append(str(child.attrGet("href") or ""))
        elif kind == "link_close":
            href = self.links.pop() if self.links else ""
            shown = "".join(r["text"] for r in self.runs)
            if href and not shown.endswith(href):
                self.add(f" ({href})")
        elif kind == "image":
            self.add(child.content or "image")

    def add(self, text: str, *, code: bool = False) -> None:
        marks = (self.bold > 0, self.italic > 0, code)
        last = self.runs[-1] if self.runs else None
        if last is not None and not code and (last["b"], last["i"], last["code"]) == marks:
            last["text"] += text
        else:
            self.runs.append({"text": text, "b": marks[0], "i": marks[1], "code": code})


def _run(text: str, *, code: bool = False) -> dict[str, Any]:
    return {"t": template_text(text), "b": False, "i": False, "code": code}
