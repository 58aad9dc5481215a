"""``limit``/``offset`` pagination: list endpoints return a JSON array and say the total in
``X-Total-Count`` and the neighbouring pages in an RFC 8288 ``Link`` header.

A list endpoint takes ``page: PageDep`` and answers ``page.answer(items, total)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

MAX_LIMIT = 500
# The largest integer every JSON client holds exactly (JavaScript's Number.MAX_SAFE_INTEGER):
# past any real table, and with a limit added still far inside the signed 64-bit integers
# SQLite and PostgreSQL bind, so no offset a client can send overflows either database.
MAX_OFFSET = 2**53 - 1
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def fetch(self, session: Session, query: Select[T]) -> tuple[list[T], int]:
        """This page of an ordered query, and the total the query would return."""
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = session.scalars(query.limit(self.limit).offset(self.offset)).all()
        return list(rows), total or 0

    def set_headers(self, request: Request, response: Response, total: int) -> None:
        response.headers["X-Total-Count"] = str(total)
        links = []
        if self.offset + self.limit < total:
            links.append((self.offset + self.limit, "next"))
        if self.offset > 0:
            links.append((max(self.offset - self.limit, 0), "prev"))
        if links:
            response.headers["Link"] = ", ".join(
                f'<{request.url.include_query_params(limit=self.limit, offset=o)}>; rel="{rel}"'
                for o, rel in links
            )


# async: it does no I/O, and a sync dependency would queue for a request thread.
async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


@dataclass(frozen=True)
class ListPage(Page):
    """A list endpoint's page, with the request it reads and the response it answers on."""

    request: Request = field(compare=False, repr=False)
    response: Response = field(compare=False, repr=False)

    def answer(self, items: list[T], total: int) -> list[T]:
        """``items``, the response's headers saying ``total`` and the neighbouring pages."""
        self.set_headers(self.request, self.response, total)
        return items


async def list_page(
    request: Request, response: Response, page: Annotated[Page, Depends(page_params)]
) -> ListPage:
    return ListPage(page.limit, page.offset, request, response)


PageDep = Annotated[ListPage, Depends(list_page)]
