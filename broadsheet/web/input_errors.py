"""A form parsed into the API's input model fails with the API's own field names: pydantic's
errors as the ``ValidationFailed`` (``errors[].field``, ``message``) the API would answer."""

from __future__ import annotations

from pydantic import ValidationError

from broadsheet.errors import ValidationFailed
from broadsheet.problems import field_name


def invalid(exc: ValidationError, detail: str = "the form is not valid") -> ValidationFailed:
    """``recipients[1].address``-style fields, messages without pydantic's "Value error, "."""
    errors = [
        {"field": field_name(("body", *e["loc"])),
         "message": str(e["msg"]).removeprefix("Value error, ")}
        for e in exc.errors()
    ]  # fmt: skip
    return ValidationFailed(detail, errors=errors)
