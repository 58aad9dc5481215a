"""The email channel against a real SMTP server (aiosmtpd, in this process): what arrives, over
plain SMTP, STARTTLS with a login and implicit TLS, the outbox without a server, and how each
kind of failure is classified."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import html
import ipaddress
import logging
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broadsheet.config import Settings, SmtpSecurity
from broadsheet.deliveries.channels.base import Artifact, DeliveryFailed, Parcel
from broadsheet.deliveries.channels.email import EmailChannel
from broadsheet.deliveries.recipients import Recipient, RecipientType
from tests.serving import free_port

TO = "ana@example.com"
CSV = "region,revenue\r\nEU,1200\r\nMünchen,3400\r\n".encode()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # only its bytes matter here
USERNAME = "reporter"
PASSWORD = "correct horse battery staple"


@dataclass
class Received:
    mail_from: str | None
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and server.transport is not None
        auth: Any = session.auth_data  # the LoginPassword check_login accepted
        login = auth.login.decode() if session.authenticated else None
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=email.message_from_bytes(envelope.content, policy=email.policy.default),
                # The connection's own transport: STARTTLS or implicit TLS alike.
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return "250 2.0.0 OK"

    def only(self) -> Received:
        """The one message received. (Not a property: aiosmtpd reads every attribute.)"""
        assert len(self.received) == 1
        return self.received[0]


class RefusingRecipients(Inbox):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return self.reply


class RefusingData(Inbox):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.reply


class DroppingFirstData(Inbox):
    """Takes the whole first message, then drops the connection instead of answering it."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.dropped:
            return await super().handle_DATA(server, session, envelope)
        self.dropped += 1
        assert isinstance(server.transport, asyncio.Transport)
        server.transport.abort()  # the reply below is never written
        return "250 2.0.0 never sent"


def check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    if auth_data == LoginPassword(USERNAME.encode(), PASSWORD.encode()):
        return AuthResult(success=True, auth_data=auth_data)
    # Some servers quote what they were sent; the failure must not carry it on.
    plain = base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode()
    login = base64.b64encode(PASSWORD.encode()).decode()
    return AuthResult(
        success=False, handled=False, message=f"535 5.7.8 rejected {plain} {login} {PASSWORD}"
    )


def rejecting_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return check_login(server, session, envelope, mechanism, None)


Serve = Callable[..., int]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts SMTP servers on 127.0.0.1 (the handler, then aiosmtpd's options) and returns each
    one's port; stops them all afterwards."""
    started: list[Controller] = []

    def start(handler: Inbox, **options: Any) -> int:
        controller = Controller(
            handler, hostname="127.0.0.1", port=free_port(), server_hostname="smtp.test", **options
        )
        controller.start()
        started.append(controller)
        return controller.port

    yield start
    for controller in started:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path) -> Certificate:
    """A certificate for localhost and 127.0.0.1, signed by its own key."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Certificate:
    """A server certificate the client trusts, through SSL_CERT_FILE."""
    made = self_signed(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(made.cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return made


def settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="sqlite:///" + str(tmp_path / "x.db"),
        secret_key="test-secret-key-for-broadsheet",
        demo=False,
        **options,
    )


def plain_smtp(tmp_path: Path, port: int) -> Settings:
    return settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security=SmtpSecurity.none
    )


def make_parcel(tmp_path: Path, **changes: Any) -> Parcel:
    path = tmp_path / "orders.csv"
    path.write_bytes(CSV)
    parcel = Parcel(
        delivery_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        execution_id=uuid.uuid4(),
        schedule_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        report_name="Q1 <script>&",
        schedule_name="Monday morning",
        scheduled_for=datetime(2024, 5, 6, 13, 0, tzinfo=UTC),
        timezone="America/New_York",
        parameters={"region": ["EU", "US"], "since": "2024-01-01"},
        summary=[("Revenue", "$4,600.00"), ("Orders", "2")],
        row_count=2,
        artifact=Artifact(
            path=path,
            filename="orders.csv",
            media_type="text/csv; charset=utf-8",
            format="csv",
            size=len(CSV),
        ),
        attach=True,
        artifact_url="https://reports.example.com/artifacts/1?expires=1715000000&sig=abc",
        result_url="https://reports.example.com/results/1",
        chart_png=PNG,
        unsubscribe_url="https://reports.example.com/unsubscribe/token-1",
    )
    return replace(parcel, **changes)


def recipient(address: str = TO) -> Recipient:
    return Recipient(type=RecipientType.email, address=address)


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    markup = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(markup, EmailMessage)
    return text.get_content(), markup.get_content()


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.iter_attachments() if isinstance(part, EmailMessage)]


def test_report_email(tmp_path: Path, serve: Serve) -> None:
    inbox = Inbox()
    parcel = make_parcel(tmp_path)

    sent = EmailChannel(plain_smtp(tmp_path, serve(inbox))).send(parcel, recipient())

    message_id = f"<{parcel.delivery_id}@broadsheet>"
    assert sent == {"messageId": message_id, "transport": "smtp"}
    got = inbox.only()
    assert got.mail_from == "broadsheet@localhost"
    assert got.rcpt_tos == [TO]
    message = got.message
    assert message["From"] == "Broadsheet <broadsheet@localhost>"
    assert message["To"] == TO
    assert message["Subject"] == "Q1 <script>& — Mon 6 May 2024 09:00 EDT"
    assert message["Message-ID"] == message_id
    assert abs(message["Date"].datetime - datetime.now(UTC)) < timedelta(minutes=1)
    assert message["List-Unsubscribe"] == "<https://reports.example.com/unsubscribe/token-1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # mixed(alternative(text, related(html, chart)), attachment)
    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    markup_part, chart = related.iter_parts()
    assert markup_part.get_content_type() == "text/html"
    assert chart.get_content_type() == "image/png"

    text, markup = bodies(message)
    assert "Q1 &lt;script&gt;&amp;" in markup
    assert "<script>" not in markup
    assert f'src="cid:{chart["Content-ID"].strip("<>")}"' in markup
    assert chart.get_content() == PNG
    for body in (text, markup):
        assert "Mon 6 May 2024 09:00 EDT" in body
        assert "Monday morning" in body
        assert "$4,600.00" in body and "Orders" in body
        assert "EU, US" in body and "2024-01-01" in body
        assert "https://reports.example.com/results/1" in body
        assert "https://reports.example.com/unsubscribe/token-1" in body
        assert "attached as orders.csv" in body
    assert "Q1 <script>&" in text

    assert attached is attachments(message)[0]
    assert attached.get_filename() == "orders.csv"
    assert attached.get_content_type() == "text/csv"
    assert attached.get_param("charset") == "utf-8"
    assert attached.get_payload(decode=True) == CSV


@pytest.mark.parametrize(
    ("filename", "media_type", "content"),
    [
        ("orders.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256))),
        (
            "orders.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK\x03\x04" + bytes(range(256)) * 40,
        ),
    ],
)
def test_binary_attachment_arrives_intact(
    tmp_path: Path, serve: Serve, filename: str, media_type: str, content: bytes
) -> None:
    inbox = Inbox()
    path = tmp_path / filename
    path.write_bytes(content)
    artifact = Artifact(path, filename, media_type, filename.rsplit(".")[-1], len(content))
    parcel = make_parcel(tmp_path, artifact=artifact, chart_png=None, unsubscribe_url=None)

    EmailChannel(plain_smtp(tmp_path, serve(inbox))).send(parcel, recipient())

    message = inbox.only().message
    assert "List-Unsubscribe" not in message
    (attached,) = attachments(message)
    assert attached.get_filename() == filename
    assert attached.get_content_type() == media_type
    assert attached.get_content() == content
    _, markup = bodies(message)
    assert "cid:" not in markup


def test_too_large_to_attach_sends_the_link(tmp_path: Path, serve: Serve) -> None:
    inbox = Inbox()
    parcel = make_parcel(tmp_path, attach=False)

    EmailChannel(plain_smtp(tmp_path, serve(inbox))).send(parcel, recipient())

    message = inbox.only().message
    assert attachments(message) == []
    text, markup = bodies(message)
    assert parcel.artifact_url in text
    assert html.escape(parcel.artifact_url) in markup
    for body in (text, markup):
        assert "too large to attach" in body
        assert "expires in 7 days" in body


def test_starttls_with_login(tmp_path: Path, serve: Serve, certificate: Certificate) -> None:
    inbox = Inbox()
    port = serve(
        inbox,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=check_login,
        auth_require_tls=True,
    )
    config = settings(
        tmp_path,
        smtp_host="localhost",
        smtp_port=port,
        smtp_security=SmtpSecurity.starttls,
        smtp_username=USERNAME,
        smtp_password=PASSWORD,
    )

    sent = EmailChannel(config).send(make_parcel(tmp_path), recipient())

    assert sent["transport"] == "smtp"
    assert inbox.only().tls
    assert inbox.only().login == USERNAME


def test_implicit_tls(tmp_path: Path, serve: Serve, certificate: Certificate) -> None:
    inbox = Inbox()
    port = serve(inbox, ssl_context=certificate.server_context())
    config = settings(
        tmp_path, smtp_host="localhost", smtp_port=port, smtp_security=SmtpSecurity.ssl
    )

    EmailChannel(config).send(make_parcel(tmp_path), recipient())

    assert inbox.only().tls


def test_untrusted_certificate_is_permanent(
    tmp_path: Path, serve: Serve, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = Inbox()
    port = serve(inbox, tls_context=certificate.server_context(), require_starttls=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed(tmp_path / "other").cert))
    config = settings(
        tmp_path, smtp_host="localhost", smtp_port=port, smtp_security=SmtpSecurity.starttls
    )

    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(config).send(make_parcel(tmp_path), recipient())

    assert failed.value.permanent
    assert failed.value.message.startswith("the TLS certificate of localhost is not trusted")
    assert inbox.received == []


def test_no_starttls_offered_is_permanent(tmp_path: Path, serve: Serve) -> None:
    inbox = Inbox()
    port = serve(inbox)
    config = settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security=SmtpSecurity.starttls
    )

    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(config).send(make_parcel(tmp_path), recipient())

    assert failed.value.permanent
    assert "STARTTLS" in failed.value.message
    assert inbox.received == []


def test_refused_login_is_permanent_and_keeps_the_password(
    tmp_path: Path, serve: Serve, certificate: Certificate
) -> None:
    inbox = Inbox()
    port = serve(inbox, tls_context=certificate.server_context(), authenticator=rejecting_login)
    config = settings(
        tmp_path,
        smtp_host="localhost",
        smtp_port=port,
        smtp_security=SmtpSecurity.starttls,
        smtp_username=USERNAME,
        smtp_password=PASSWORD,
    )

    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(config).send(make_parcel(tmp_path), recipient())

    assert failed.value.permanent
    assert failed.value.message.startswith("SMTP 535 from localhost: 5.7.8 rejected")
    told = str(failed.value)
    assert PASSWORD not in told
    assert base64.b64encode(PASSWORD.encode()).decode() not in told
    assert base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode() not in told
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert inbox.received == []


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("550 5.1.1 no such user", True), ("450 4.2.0 greylisted, try again later", False)],
)
def test_refused_recipient(tmp_path: Path, serve: Serve, reply: str, permanent: bool) -> None:
    port = serve(RefusingRecipients(reply))

    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(plain_smtp(tmp_path, port)).send(make_parcel(tmp_path), recipient())

    assert failed.value.permanent is permanent
    code, text = reply.split(" ", 1)
    assert failed.value.message == f"SMTP {code} from 127.0.0.1: {text}"


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("554 5.6.0 message content rejected", True), ("451 4.3.0 queue full", False)],
)
def test_refused_message(tmp_path: Path, serve: Serve, reply: str, permanent: bool) -> None:
    port = serve(RefusingData(reply))

    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(plain_smtp(tmp_path, port)).send(make_parcel(tmp_path), recipient())

    assert failed.value.permanent is permanent
    assert failed.value.message.startswith(f"SMTP {reply[:3]} from 127.0.0.1:")


def test_dropped_connection_is_transient_and_a_retry_sends_once(
    tmp_path: Path, serve: Serve
) -> None:
    inbox = DroppingFirstData()
    channel = EmailChannel(plain_smtp(tmp_path, serve(inbox)))
    parcel = make_parcel(tmp_path)

    with pytest.raises(DeliveryFailed) as failed:
        channel.send(parcel, recipient())
    assert not failed.value.permanent
    assert inbox.dropped == 1

    sent = channel.send(parcel, recipient())

    assert inbox.only().message["Message-ID"] == sent["messageId"]
    assert sent["messageId"] == f"<{parcel.delivery_id}@broadsheet>"


def test_unreachable_server_is_transient(tmp_path: Path) -> None:
    channel = EmailChannel(plain_smtp(tmp_path, free_port()))

    with pytest.raises(DeliveryFailed) as failed:
        channel.send(make_parcel(tmp_path), recipient())

    assert not failed.value.permanent
    assert failed.value.message.startswith("cannot talk to SMTP server 127.0.0.1:")


def test_report_name_cannot_add_headers(tmp_path: Path, serve: Serve) -> None:
    inbox = Inbox()
    name = "Q1\r\nBcc: evil@example.com\nX-Evil: 1"
    parcel = make_parcel(tmp_path, report_name=name, schedule_name="Daily\r\nCc: evil@example.com")

    EmailChannel(plain_smtp(tmp_path, serve(inbox))).send(parcel, recipient())

    got = inbox.only()
    assert got.rcpt_tos == [TO]
    assert "Bcc" not in got.message and "Cc" not in got.message
    assert "X-Evil" not in got.message
    assert got.message["Subject"] == (
        "Q1 Bcc: evil@example.com X-Evil: 1 — Mon 6 May 2024 09:00 EDT"
    )


def test_outbox_without_a_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = settings(tmp_path)
    channel = EmailChannel(config)
    first, second = make_parcel(tmp_path), make_parcel(tmp_path)

    with caplog.at_level(logging.WARNING):
        sent = channel.send(first, recipient())
        channel.send(second, recipient())

    path = config.outbox_dir / f"{first.delivery_id}.eml"
    assert sent == {
        "messageId": f"<{first.delivery_id}@broadsheet>",
        "transport": "outbox",
        "path": str(path),
    }
    assert sorted(p.name for p in config.outbox_dir.iterdir()) == sorted(
        [f"{first.delivery_id}.eml", f"{second.delivery_id}.eml"]
    )
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == TO
    assert message["Message-ID"] == sent["messageId"]
    (attached,) = attachments(message)
    assert attached.get_filename() == "orders.csv"
    assert attached.get_payload(decode=True) == CSV
    warnings = [r for r in caplog.records if "No SMTP server is configured" in r.getMessage()]
    assert len(warnings) == 1


def test_notice(tmp_path: Path, serve: Serve) -> None:
    inbox = Inbox()
    channel = EmailChannel(plain_smtp(tmp_path, serve(inbox)))

    sent = channel.send_notice(
        "owner@example.com",
        "Schedule “Monday morning” failed\r\nBcc: evil@example.com",
        "The report could not be generated:\nthe data source refused the connection.\n",
    )

    assert sent["transport"] == "smtp"
    got = inbox.only()
    assert got.rcpt_tos == ["owner@example.com"]
    message = got.message
    assert message.get_content_type() == "text/plain"
    assert message["Subject"] == "Schedule “Monday morning” failed Bcc: evil@example.com"
    assert "Bcc" not in message
    assert message["Message-ID"] == sent["messageId"]
    assert message["Message-ID"].endswith("@broadsheet>")
    assert message.get_content().splitlines() == [
        "The report could not be generated:",
        "the data source refused the connection.",
    ]


def test_notice_to_something_not_an_address_is_permanent(tmp_path: Path) -> None:
    channel = EmailChannel(settings(tmp_path))

    with pytest.raises(DeliveryFailed) as failed:
        channel.send_notice("owner@example.com\r\nRCPT TO:<evil@example.com>", "Failed", "...")

    assert failed.value.permanent
    assert not settings(tmp_path).outbox_dir.exists()
