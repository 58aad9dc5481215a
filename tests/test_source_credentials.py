"""A tenant's PostgreSQL source never logs in with the credentials of the account Broadsheet
runs as: libpq would otherwise take a password from ``~/.pgpass`` (or ``PGPASSFILE``) for a
URL without one, and hand it to whatever server the tenant named.

The server here is a listener that speaks just enough of PostgreSQL's protocol to ask for a
cleartext password and record what the client sends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadsheet.datasources.connector import parse_source_url, probe

SECRET = "broadsheet-own-password"


class PasswordCatcher:
    """Accepts connections, refuses TLS/GSS, asks for a password, records any it gets."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.passwords: list[bytes] = []
        self.startups = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while True:
                size = int.from_bytes(_exactly(conn, 4), "big")
                body = _exactly(conn, size - 4)
                code = int.from_bytes(body[:4], "big")
                if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: no
                    conn.sendall(b"N")
                    continue
                break
            self.startups += 1
            conn.sendall(b"R" + (8).to_bytes(4, "big") + (3).to_bytes(4, "big"))  # cleartext
            if _exactly(conn, 1) == b"p":
                size = int.from_bytes(_exactly(conn, 4), "big")
                self.passwords.append(_exactly(conn, size - 4).rstrip(b"\0"))
        except (OSError, ConnectionError):
            return

    def close(self) -> None:
        self.listener.close()


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@pytest.fixture
def catcher() -> Iterator[PasswordCatcher]:
    server = PasswordCatcher()
    yield server
    server.close()


def test_a_source_without_a_password_does_not_get_broadsheets_pgpass(
    catcher: PasswordCatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:*:{SECRET}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    url = parse_source_url(f"postgresql://reader@127.0.0.1:{catcher.port}/sales", [tmp_path])
    result = probe(url)
    assert not result.ok
    assert catcher.startups >= 1  # it did reach the server and was asked for a password
    assert SECRET.encode() not in catcher.passwords
    assert "password" in (result.error or "")


def test_a_password_in_the_url_is_the_one_sent(
    catcher: PasswordCatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:*:{SECRET}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    url = parse_source_url(f"postgresql://reader:own-pw@127.0.0.1:{catcher.port}/sales", [])
    assert not probe(url).ok  # the listener never says the login worked
    assert catcher.passwords[:1] == [b"own-pw"]
