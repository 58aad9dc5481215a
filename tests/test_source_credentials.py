"""A tenant's PostgreSQL source never logs in with the credentials of the account Broadsheet
runs as: libpq would otherwise take a password from ``~/.pgpass`` (or ``PGPASSFILE``),
``PGPASSWORD`` or a service file (``PGSERVICE``) for a URL without one, and hand it to
whatever server the tenant named; nor does ``PGHOSTADDR`` or ``PGPORT`` send it to another
server than its URL names.

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
        self.logins: list[dict[str, str]] = []  # each startup's parameters (user, database)
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
            fields = [f.decode() for f in body[4:].split(b"\0")]
            pairs = zip(fields[::2], fields[1::2], strict=False)
            self.logins.append({k: v for k, v in pairs if k in ("user", "database")})
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


def test_pgpassword_in_broadsheets_environment_is_not_sent(
    catcher: PasswordCatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    url = parse_source_url(f"postgresql://reader@127.0.0.1:{catcher.port}/sales", [tmp_path])
    result = probe(url)
    assert not result.ok
    assert catcher.startups >= 1
    assert catcher.passwords in ([], [b""]), catcher.passwords  # nothing, not SECRET
    assert "password" in (result.error or "")


def test_a_service_file_does_not_fill_in_a_password_or_a_server(
    catcher: PasswordCatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq has no option to turn the service file off (``servicefile`` is not one of this
    libpq's options, and an empty ``service`` is an error), but it never replaces a value given
    explicitly: password, address and port are always given."""
    decoy = PasswordCatcher()  # where the service file would send the connection
    try:
        services = tmp_path / "pg_service.conf"
        services.write_text(
            f"[ours]\npassword={SECRET}\nuser=broadsheet\ndbname=broadsheet\n"
            f"hostaddr=127.0.0.1\nport={decoy.port}\n"
        )
        monkeypatch.setenv("PGSERVICEFILE", str(services))
        monkeypatch.setenv("PGSERVICE", "ours")
        url = parse_source_url(f"postgresql://reader@localhost:{catcher.port}/sales", [tmp_path])
        assert not probe(url).ok
        assert catcher.passwords in ([], [b""]), catcher.passwords
        assert catcher.logins[:1] == [{"user": "reader", "database": "sales"}], catcher.logins
        assert decoy.startups == 0
    finally:
        decoy.close()


def test_pghostaddr_does_not_send_a_source_elsewhere(
    catcher: PasswordCatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PGHOSTADDR replaces the host's address: the source would reach Broadsheet's choice
    (here the listener on 127.0.0.1), not the 127.0.0.2 its URL names (nothing listens)."""
    monkeypatch.setenv("PGHOSTADDR", "127.0.0.1")
    url = parse_source_url(f"postgresql://reader@127.0.0.2:{catcher.port}/sales", [])
    assert not probe(url).ok
    assert catcher.startups == 0


def test_a_url_without_a_port_uses_the_default_port_not_pgport(
    catcher: PasswordCatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPORT", str(catcher.port))
    monkeypatch.setenv("PGPASSWORD", SECRET)
    url = parse_source_url("postgresql://reader@127.0.0.1/sales", [])
    probe(url)  # reaches whatever listens on 5432, if anything, as reader without a password
    assert catcher.startups == 0
