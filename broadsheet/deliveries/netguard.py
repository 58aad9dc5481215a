"""The outbound-address guard: where webhook, Teams and Slack incoming-webhook requests may go.

Those addresses are typed in by tenants, so a request to one is a request a tenant makes from
inside our network (server-side request forgery). :func:`check_url` refuses, as a permanent
:class:`DeliveryFailed`:

- a scheme other than https (http only with ``BROADSHEET_WEBHOOK_ALLOW_HTTP``);
- a URL with credentials (``user:pass@``) or without a host;
- a host any of whose addresses is loopback, private (RFC 1918, fc00::/7), link-local
  (169.254/16 with the cloud metadata service, fe80::/10), shared (CGNAT 100.64/10), multicast,
  reserved, unspecified or otherwise not public — also when spelled as an IPv4-mapped, NAT64
  or 6to4 IPv6 address — unless ``BROADSHEET_WEBHOOK_ALLOW_PRIVATE`` is set.

A name that does not resolve is a transient failure: DNS outages pass.

The check happens at send time, not only when the schedule is saved, since what a name resolves
to can change in between. What remains is the window between the check and the connection
(DNS rebinding: a name that answers a public address to the check and a private one to the
connect). :func:`resolve` returns the addresses it checked, and
:func:`broadsheet.deliveries.http.post_json` connects to those, never resolving the name again,
so requests sent through it have no such window. A caller that uses :func:`check_url` and then
lets another client resolve the name keeps it.

So every request to a URL a tenant typed goes through ``post_json`` (webhooks, Teams and Slack
incoming webhooks, event subscriptions), with :func:`check_url` on save for an early answer.
An S3 endpoint a tenant names gets its client from :func:`s3_client`, which checks the host
right before the client is made; boto3 then resolves the name itself, so there the window
remains (a name that changes its answer within that moment): the limit of this guard for S3.
The operator's own ``BROADSHEET_S3_ENDPOINT_URL`` is trusted, and often local.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import httpx2

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.recipients import redact

IPAddress = IPv4Address | IPv6Address

_CGNAT = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")
# Nothing outside 2000::/3 is assigned for public unicast, though Python 3.11 calls some of it
# global (the deprecated site-local fec0::/10, for one).
_GLOBAL_UNICAST_V6 = ip_network("2000::/3")

# Checked in order, so an address gets its most telling name: Python also calls
# 169.254.169.254 and 240.0.0.1 private.
_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("an unspecified address", lambda ip: ip.is_unspecified),
    ("a loopback address", lambda ip: ip.is_loopback),
    ("a link-local address", lambda ip: ip.is_link_local),
    ("a multicast address", lambda ip: ip.is_multicast),
    ("a reserved address", lambda ip: ip.is_reserved),
    ("a private address", lambda ip: ip.is_private or (ip.version == 6 and ip.is_site_local)),
    ("a shared (CGNAT) address", lambda ip: ip in _CGNAT),
)


def check_url(url: str, settings: Settings) -> None:
    """Raise DeliveryFailed unless ``url`` may be sent to now (see the module docstring)."""
    resolve(url, settings)


def s3_client(endpoint_url: str, settings: Settings) -> Any:
    """A boto3 S3 client on ``endpoint_url``, a tenant's S3-compatible store, whose host was
    checked as :func:`check_url` checks (see the module docstring for the limit)."""
    from broadsheet.kit import s3  # boto3 costs a process 15 MB: only when asked for

    resolve(endpoint_url, settings)
    return s3.client(endpoint_url, settings.delivery_timeout_seconds)


def resolve(url: str, settings: Settings) -> tuple[str, ...]:
    """Check ``url`` as :func:`check_url` does and return the addresses its host resolved to,
    all of them checked, in the resolver's order: the ones to connect to."""
    host, port = _host_and_port(url, settings)
    addresses = _lookup(url, host, port)
    if not settings.webhook_allow_private:
        for address in addresses:
            kind = _refusal(ip_address(address))
            if kind:
                raise _refused(
                    url,
                    f"{host} resolves to {address}, {kind} "
                    "(BROADSHEET_WEBHOOK_ALLOW_PRIVATE allows it)",
                )
    return addresses


def _host_and_port(url: str, settings: Settings) -> tuple[str, int]:
    # httpx2's parser, the one that will send the request: a second parser could read another
    # host out of a crafted URL than the one the client connects to.
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        raise _refused(url, "not a valid URL") from None
    scheme = parsed.scheme
    if scheme == "http" and not settings.webhook_allow_http:
        raise _refused(url, "plain http (BROADSHEET_WEBHOOK_ALLOW_HTTP allows it)")
    if scheme not in ("https", "http"):
        raise _refused(url, f"{scheme or 'no scheme'} is not https")
    if parsed.userinfo:
        raise _refused(url, "the URL carries credentials")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as the resolver wants it
    if not host:
        raise _refused(url, "the URL has no host")
    return host, parsed.port or (443 if scheme == "https" else 80)


def _lookup(url: str, host: str, port: int) -> tuple[str, ...]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        message = f"could not resolve {host} for {redact(url)}: {exc.strerror}"
        raise DeliveryFailed(message, permanent=False) from exc
    except UnicodeError:
        raise _refused(url, f"{host!r} is not a valid host name") from None
    # One entry per address, not per (address, socket type) the resolver pairs it with.
    return tuple(dict.fromkeys(str(info[4][0]) for info in found))


def _refusal(ip: IPAddress) -> str | None:
    """What ``ip`` is ('a loopback address') when it is not one to send to; None when it is."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return _refusal(inner)
    for kind, matches in _KINDS:
        if matches(ip):
            return kind
    if not ip.is_global or (ip.version == 6 and ip not in _GLOBAL_UNICAST_V6):
        return "not a public address"
    return None


def _embedded_ipv4(ip: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 2002:…)."""
    if isinstance(ip, IPv4Address):
        return None
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.ipv4_mapped or ip.sixtofour


def _refused(url: str, why: str) -> DeliveryFailed:
    return DeliveryFailed(f"refused to send to {redact(url)}: {why}", permanent=True)
