"""The outbound-address guard checks every address a tenant's URL resolves to and connects to
the address it checked, so a name that answers a public address to the check and a private one
to the connection (DNS rebinding) never reaches the private one. The resolver is the test's
(tests/security/resolver.py); the receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadsheet.deliveries import netguard
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.http import post_json
from tests.deliveries.httpserver import RecordingServer, loopback_settings
from tests.security.resolver import Resolver

PUBLIC = "93.184.215.14"  # a global unicast address; nothing in these tests may reach it


def test_a_rebinding_name_never_reaches_the_private_address(
    tmp_path: Path, resolver: Resolver
) -> None:
    """Public to the check, 127.0.0.1 to any later lookup: the request goes to the public
    address the guard checked (unreachable here: a transient failure), never to loopback."""
    settings = loopback_settings(tmp_path, webhook_allow_private=False, delivery_timeout_seconds=1)
    with RecordingServer() as server:
        port = server.url.rsplit(":", 1)[1]
        resolver.answer("hooks.rebind.test", [PUBLIC], ["127.0.0.1"])
        with pytest.raises(DeliveryFailed) as caught:
            post_json(f"http://hooks.rebind.test:{port}/hook", b"{}", {}, settings)
    assert not caught.value.permanent  # could not connect to the checked address
    assert server.requests == []
    assert resolver.calls["hooks.rebind.test"] == 1  # resolved once, by the guard


def test_a_private_first_answer_is_refused_before_any_connection(
    tmp_path: Path, resolver: Resolver
) -> None:
    settings = loopback_settings(tmp_path, webhook_allow_private=False)
    with RecordingServer() as server:
        port = server.url.rsplit(":", 1)[1]
        resolver.answer("hooks.rebind.test", ["127.0.0.1"], [PUBLIC])
        with pytest.raises(DeliveryFailed) as caught:
            post_json(f"http://hooks.rebind.test:{port}/hook", b"{}", {}, settings)
    assert caught.value.permanent
    assert "127.0.0.1, a loopback address" in caught.value.message
    assert server.requests == []


@pytest.mark.parametrize(
    "answer",
    [[PUBLIC, "127.0.0.1"], ["127.0.0.1", PUBLIC], [PUBLIC, "::ffff:10.0.0.7"]],
)
def test_every_address_of_one_answer_is_checked(
    tmp_path: Path, resolver: Resolver, answer: list[str]
) -> None:
    resolver.answer("hooks.mixed.test", answer)
    with pytest.raises(DeliveryFailed) as caught:
        netguard.check_url("https://hooks.mixed.test/hook", loopback_settings(tmp_path,
                           webhook_allow_private=False))  # fmt: skip
    assert caught.value.permanent
    assert "hooks.mixed.test resolves to" in caught.value.message


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    tmp_path: Path, resolver: Resolver
) -> None:
    """Loopback allowed (as for a local receiver): the name answers 127.0.0.1 to the guard
    and an unroutable address afterwards; the request still arrives, once resolved."""
    settings = loopback_settings(tmp_path)
    with RecordingServer() as server:
        port = server.url.rsplit(":", 1)[1]
        resolver.answer("hooks.pinned.test", ["127.0.0.1"], ["10.255.255.1"])
        response = post_json(f"http://hooks.pinned.test:{port}/hook", b'{"a":1}', {}, settings)
    assert response.status_code == 200
    [request] = server.requests
    assert request.headers["host"] == f"hooks.pinned.test:{port}"
    assert request.body == b'{"a":1}'
    assert resolver.calls["hooks.pinned.test"] == 1


def test_a_tenants_s3_endpoint_is_checked_before_its_client_is_made(
    tmp_path: Path, resolver: Resolver
) -> None:
    settings = loopback_settings(tmp_path, webhook_allow_private=False, webhook_allow_http=False)
    resolver.answer("s3.metadata.test", ["169.254.169.254"])
    with pytest.raises(DeliveryFailed) as caught:
        netguard.s3_client("https://s3.metadata.test", settings)
    assert "169.254.169.254, a link-local address" in caught.value.message
    with pytest.raises(DeliveryFailed, match="plain http"):
        netguard.s3_client("http://s3.example.test", settings)
    resolver.answer("s3.public.test", [PUBLIC])
    client = netguard.s3_client("https://s3.public.test", settings)
    try:
        assert client.meta.endpoint_url == "https://s3.public.test"
    finally:
        client.close()
