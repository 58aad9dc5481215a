"""Text widgets: Markdown rendered to HTML that is safe to put in a page.

markdown-it renders CommonMark with raw HTML off (``<script>`` in the source stays text);
nh3 (ammonia) then keeps only plain formatting tags, drops every attribute but a link's
``href``/``title`` and an image's ``src``/``alt``/``title``, and only ``http``, ``https``
and ``mailto`` URLs — so no scripts, event handlers, styles or ``javascript:`` links, even
from Markdown syntax such as ``[x](javascript:alert(1))``.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=256)
def to_html(markdown: str) -> str:
    """Sanitised HTML of ``markdown``; links open as the reader's browser decides, with
    ``rel="noopener noreferrer"``."""
    return nh3.clean(
        _renderer.render(markdown),
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
