"""Errors carry their HTTP status; one handler in ``app.py`` renders them as RFC 9457
``application/problem+json``.

    BroadsheetError            500  (never for bad input)
    ├── BadRequest             400  malformed body
    ├── Unauthorized           401  no key, or an unknown or revoked one
    ├── Forbidden              403  the caller's role does not allow it
    ├── NotFound               404  unknown id, or another tenant's
    ├── Conflict               409  a name taken, a row still in use
    ├── Gone                   410  an expired link
    ├── PayloadTooLarge        413
    ├── TooManyRequests        429  asked again too soon; carries ``retry_after``
    ├── ValidationFailed       422  carries ``errors``: [{field, message}]
    ├── StorageUnavailable     503  the artifact store did not answer
    └── Overloaded             503  no database connection in time, or the database is down;
                                    carries ``retry_after``
"""

from __future__ import annotations

from typing import Any


class BroadsheetError(Exception):
    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(BroadsheetError):
    status = 400
    title = "Bad Request"


class Unauthorized(BroadsheetError):
    status = 401
    title = "Unauthorized"


class Forbidden(BroadsheetError):
    status = 403
    title = "Forbidden"


class NotFound(BroadsheetError):
    status = 404
    title = "Not Found"


class Conflict(BroadsheetError):
    status = 409
    title = "Conflict"


class Gone(BroadsheetError):
    status = 410
    title = "Gone"


class PayloadTooLarge(BroadsheetError):
    status = 413
    title = "Payload Too Large"


class ValidationFailed(BroadsheetError):
    status = 422
    title = "Unprocessable Content"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class TooManyRequests(BroadsheetError):
    """An action that may run once per window, asked for again inside it."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageUnavailable(BroadsheetError):
    status = 503
    title = "Service Unavailable"


class Overloaded(BroadsheetError):
    """Too many requests at once: answered with ``Retry-After`` so clients back off."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
