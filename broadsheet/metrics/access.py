"""Who may read metrics: the bearer of ``BROADSHEET_METRICS_TOKEN``, compared in constant
time. Without the setting metrics are not served at all (404, as for a path that does not
exist), so an operator never exposes them by accident."""

from __future__ import annotations

import hmac

from broadsheet.errors import BroadsheetError, NotFound, Unauthorized

NOT_SERVED = "Not Found"  # what any unknown path answers


def check(token: str, authorization: str | None) -> None:
    """Raise the error to answer, or return when the caller may read metrics."""
    if not token:
        raise NotFound(NOT_SERVED)
    scheme, _, given = (authorization or "").strip().partition(" ")
    # compare_digest's time depends on the lengths only, never on where the bytes differ.
    matches = hmac.compare_digest(given.strip().encode(), token.encode())
    if scheme.lower() != "bearer" or not matches:
        raise Unauthorized("metrics need Authorization: Bearer <BROADSHEET_METRICS_TOKEN>")


def refusal(token: str, authorization: str | None) -> BroadsheetError | None:
    """The error to answer, or None: :func:`check` for callers that render it themselves."""
    try:
        check(token, authorization)
    except BroadsheetError as error:
        return error
    return None
