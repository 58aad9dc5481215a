"""POST a JSON body to a tenant's URL (webhook, Teams, Slack incoming webhook), safely.

The URL passes :mod:`~broadsheet.deliveries.netguard` first, and the request goes to the very
addresses the guard checked (the name is not resolved twice), with the name kept for the Host
header and for TLS (SNI and certificate). Redirects are not followed: one could lead past the
guard. The answer decides what the delivery does next:

- 2xx: sent;
- 408, 425, 429, 5xx, and timeouts and connection errors: :class:`DeliveryFailed`, retried;
- 3xx and every other 4xx: :class:`DeliveryFailed`, permanent.

Messages name the scheme and host only: webhook URLs carry their secret in the path or query.
"""

from __future__ import annotations

import httpx2

from broadsheet.config import Settings
from broadsheet.deliveries import netguard
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.recipients import redact

USER_AGENT = "Broadsheet"
_RETRYABLE = frozenset({408, 425, 429})
_SAID_MAX = 200  # characters of an error answer worth quoting, e.g. Slack's "invalid_payload"


def post_json(
    url: str, body: bytes, headers: dict[str, str], settings: Settings
) -> httpx2.Response:
    """POST ``body`` (JSON bytes) with ``headers`` added; return the 2xx response or raise
    DeliveryFailed, permanent or not as the module docstring says."""
    addresses = netguard.resolve(url, settings)
    with httpx2.Client(timeout=settings.delivery_timeout_seconds, follow_redirects=False) as client:
        response = _post_pinned(client, url, addresses, body, headers)
    _raise_for_status(url, response)
    return response


def _post_pinned(
    client: httpx2.Client,
    url: str,
    addresses: tuple[str, ...],
    body: bytes,
    headers: dict[str, str],
) -> httpx2.Response:
    """Try the checked addresses in turn, as a connect by name would."""
    target = httpx2.URL(url)
    request_headers = {
        "Content-Type": "application/json",  # unless the caller names a more exact type
        **headers,
        "User-Agent": USER_AGENT,
        "Host": target.netloc.decode("ascii"),
    }
    # The connection goes to the address; TLS still checks the certificate against the name.
    extensions = {"sni_hostname": target.raw_host.decode("ascii")}
    refused: httpx2.ConnectError | None = None
    for address in addresses:
        try:
            return client.post(
                target.copy_with(host=address),
                content=body,
                headers=request_headers,
                extensions=extensions,
            )
        except httpx2.ConnectError as exc:
            refused = exc  # nothing was sent, so the next address may safely be tried
        except httpx2.HTTPError as exc:
            raise _unreachable(url, exc) from exc
    assert refused is not None  # the resolver returns at least one address
    raise _unreachable(url, refused) from refused


def _raise_for_status(url: str, response: httpx2.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{redact(url)} answered {status} {response.reason_phrase}"
    if 300 <= status < 400:
        message += " (redirects are not followed)"
    said = " ".join(response.text.split())[:_SAID_MAX]
    if said:
        message += f": {said}"
    retryable = status in _RETRYABLE or status >= 500
    raise DeliveryFailed(message, permanent=not retryable)


def _unreachable(url: str, exc: httpx2.HTTPError) -> DeliveryFailed:
    detail = str(exc) or type(exc).__name__
    return DeliveryFailed(f"could not reach {redact(url)}: {detail}", permanent=False)
