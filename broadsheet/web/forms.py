"""Forms: reading what was posted, and what a template needs to show it again.

A page handler reads the form (``form: Form``), parses it into the same input model the API
uses, calls the same service, and on a ``ValidationFailed`` renders the form again::

    @router.post("/reports/new")
    def create(
        request: Request,
        caller: Annotated[Principal, WebAllowed("report.write")],
        form: Form,
        session: SessionDep,
    ) -> Response:
        try:
            report = ReportService(session).create(caller, ReportCreate.model_validate(...))
        except ValidationFailed as error:
            state = FormState.failed(form, error)
            return render(request, "reports/edit.html.j2", {"form": state}, status_code=422)
        return see_other(f"/reports/{report.id}")

Field names are the API's (``errors[].field``: ``name``, ``parameters[0].label``), so an
error lands at its field; :func:`field_id` gives the element id the error summary links to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from starlette.datastructures import FormData

from broadsheet.errors import BadRequest, BroadsheetError

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000
_STATE_FORM = "broadsheet_form"
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]+")


async def read_form(request: Request) -> FormData:
    """The request's url-encoded form (empty for any other body), parsed once per request.

    Pages post ``application/x-www-form-urlencoded``, what browsers and htmx send by
    default; there are no file uploads.
    """
    cached: FormData | None = getattr(request.state, _STATE_FORM, None)
    if cached is not None:
        return cached
    form = FormData()
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == FORM_TYPE:
        body = await request.body()
        try:
            pairs = parse_qsl(
                body.decode("utf-8", errors="replace"),
                keep_blank_values=True,
                max_num_fields=MAX_FIELDS,
            )
        except ValueError:
            raise BadRequest(f"the form has more than {MAX_FIELDS} fields") from None
        form = FormData([(name, value) for name, value in pairs])
    setattr(request.state, _STATE_FORM, form)
    return form


Form = Annotated[FormData, Depends(read_form)]


def field_id(name: str) -> str:
    """The element id of the field ``name``: ``parameters[0].label`` → ``parameters-0-label``."""
    return _NOT_ID.sub("-", name).strip("-") or "field"


@dataclass(frozen=True)
class SummaryItem:
    message: str
    href: str | None


@dataclass
class FormState:
    """What a form shows: its values (as typed, or as stored) and its errors by field.

    ``errors`` keys are field names; the key ``""`` is an error of the whole form (shown in
    the summary only).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failed(cls, values: Mapping[str, Any], error: BroadsheetError) -> FormState:
        """``values`` again, with ``error``'s messages at their fields (the first per field)."""
        errors: dict[str, str] = {}
        for item in error.errors or [{"field": "", "message": error.detail}]:
            errors.setdefault(item.get("field", ""), item.get("message", "invalid"))
        return cls(values, errors)

    def value(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return default if value is None else str(value)

    def values_of(self, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes, multiple selects)."""
        if isinstance(self.values, FormData):
            return [str(v) for v in self.values.getlist(name)]
        value = self.values.get(name)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    @property
    def summary(self) -> list[SummaryItem]:
        return [
            SummaryItem(message, f"#{field_id(name)}" if name else None)
            for name, message in self.errors.items()
        ]
