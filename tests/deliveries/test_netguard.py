"""The outbound-address guard, and post_json sending only where it allows.

A refused address must fail before any connection: the loopback cases listen on the port the
URL names and check that nobody knocked; for the others, a connection attempt would have ended
in a transient connect error or timeout, not the permanent refusal asserted.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadsheet.config import Settings
from broadsheet.deliveries import netguard
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.http import post_json
from broadsheet.deliveries.recipients import redact
from tests.deliveries.httpserver import RecordingServer, loopback_settings


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 that accepts connections without answering, to count knocks."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def default_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="sqlite:///" + str(tmp_path / "x.db"),
        secret_key="test-secret-key-for-broadsheet",
        demo=False,
        delivery_timeout_seconds=2,
    )


def refusal(url: str, settings: Settings) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        post_json(url, b"{}", {}, settings)
    return caught.value


def assert_not_connected(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("https://127.0.0.1:{port}/hooks/secret-token", "127.0.0.1, a loopback address"),
        ("https://localhost:{port}/hooks/secret-token", "a loopback address"),
        ("https://2130706433:{port}/hooks/secret-token", "127.0.0.1, a loopback address"),
        ("https://[::ffff:127.0.0.1]:{port}/hooks/secret-token", "a loopback address"),
    ],
)
def test_loopback_is_refused_before_connecting(
    tmp_path: Path, listener: socket.socket, template: str, reason: str
) -> None:
    url = template.format(port=listener.getsockname()[1])
    failure = refusal(url, default_settings(tmp_path))
    assert failure.permanent
    assert reason in failure.message
    assert "secret-token" not in failure.message
    assert_not_connected(listener)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
        ("https://10.0.0.1/hook", "10.0.0.1, a private address"),
        ("https://192.168.1.20/hook", "a private address"),
        ("https://100.64.0.1/hook", "a shared (CGNAT) address"),
        ("https://[::1]/hook", "::1, a loopback address"),
        ("https://[fd00::1]/hook", "a private address"),
        ("https://[fe80::1]/hook", "a link-local address"),
        ("https://[fec0::1]/hook", "a private address"),
        ("https://224.0.0.1/hook", "a multicast address"),
        ("https://0.0.0.0/hook", "0.0.0.0, an unspecified address"),
        ("https://240.0.0.1/hook", "a reserved address"),
        # 169.254.169.254 through NAT64, and 127.0.0.1 through 6to4.
        ("https://[64:ff9b::a9fe:a9fe]/hook", "a link-local address"),
        ("https://[2002:7f00:1::1]/hook", "a loopback address"),
    ],
)
def test_non_public_addresses_are_refused(tmp_path: Path, url: str, reason: str) -> None:
    failure = refusal(url, default_settings(tmp_path))
    assert failure.permanent
    assert reason in failure.message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "plain http"),
        ("ftp://example.com/hook", "ftp is not https"),
        ("https://user:password@example.com/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://[::1/hook", "not a valid URL"),
    ],
)
def test_urls_of_the_wrong_shape_are_refused(tmp_path: Path, url: str, reason: str) -> None:
    failure = refusal(url, default_settings(tmp_path))
    assert failure.permanent
    assert reason in failure.message
    assert "password" not in failure.message


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::808:808]/hook",  # 8.8.8.8 through NAT64, as DNS64 networks hand out
    ],
)
def test_public_addresses_pass(tmp_path: Path, url: str) -> None:
    netguard.check_url(url, default_settings(tmp_path))


def test_allow_private_lets_loopback_through(tmp_path: Path) -> None:
    settings = loopback_settings(tmp_path)
    netguard.check_url("https://127.0.0.1/hook", settings)
    with RecordingServer() as server:
        response = post_json(f"{server.url}/hook", b'{"a":1}', {"X-Extra": "yes"}, settings)
    assert response.status_code == 200
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook", b'{"a":1}')
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Broadsheet"
    assert request.headers["x-extra"] == "yes"


def test_allow_private_does_not_allow_plain_http(tmp_path: Path) -> None:
    settings = loopback_settings(tmp_path, webhook_allow_http=False)
    failure = refusal("http://127.0.0.1/hook", settings)
    assert failure.permanent
    assert "plain http" in failure.message


def test_the_request_carries_the_name_it_was_checked_under(tmp_path: Path) -> None:
    # post_json connects to the address the guard resolved; the name still goes in Host.
    with RecordingServer() as server:
        port = server.url.rsplit(":", 1)[1]
        post_json(f"http://localhost:{port}/hook", b"{}", {}, loopback_settings(tmp_path))
    assert server.requests[0].headers["host"] == f"localhost:{port}"


def test_a_name_that_does_not_resolve_is_transient(tmp_path: Path) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        netguard.check_url("https://nonexistent.invalid/hooks/secret", default_settings(tmp_path))
    assert not caught.value.permanent
    assert "nonexistent.invalid" in caught.value.message
    assert "secret" not in caught.value.message


def test_redact_keeps_scheme_and_host_only() -> None:
    assert redact("https://hooks.example.com/T00/B00/XXXX?token=1") == (
        "https://hooks.example.com/…"
    )
    assert redact("https://[::1]:8443/x") == "https://[::1]/…"
