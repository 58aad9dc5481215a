"""The email channel: a report as a branded HTML email with a plain-text alternative, over SMTP.

A message holds the report's summary, its first chart inline, the parameters it ran with and a
link to the result, with the export attached (or, when too large, a signed link to it); a
dashboard's names the dashboard, its filter values and a link to it, with its PDF attached. Bodies
come from ``templates/email.html.j2`` and ``templates/email.txt.j2``. With no SMTP server
configured, messages are written as ``.eml`` files to the outbox folder instead, so a fresh
install shows what it would have sent.

SMTP failures become :class:`DeliveryFailed`: permanent when the server's answer will not change
(a 5xx reply, no STARTTLS, a refused login, an untrusted certificate), else transient.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import smtplib
import ssl
import tempfile
import unicodedata
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from broadsheet.config import Settings, SmtpSecurity
from broadsheet.deliveries.channels.base import DeliveryFailed, Parcel
from broadsheet.deliveries.recipients import EMAIL, Recipient

log = logging.getLogger(__name__)

DEFAULT_PORTS = {SmtpSecurity.ssl: 465, SmtpSecurity.starttls: 587, SmtpSecurity.none: 25}

# Lines may be as long as RFC 5322 allows: at the default 78, a List-Unsubscribe URL too long to
# fold is written as an RFC 2047 encoded word, which mail clients do not read as a URL.
POLICY = SMTP.clone(max_line_length=998)

TEMPLATES = Environment(
    loader=PackageLoader("broadsheet.deliveries", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class EmailChannel:
    """Sends parcels and notices by email. Keeps no connection: each send opens its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        """Email ``parcel`` to the recipient's address, or raise DeliveryFailed.

        The Message-ID is made from the delivery id, so a resend of one delivery is recognisable
        as the same message.
        """
        when = _local_time(parcel.scheduled_for, parcel.timezone)
        message = self._message(
            recipient.address,
            f"{parcel.report_name} — {when}",
            f"<{parcel.delivery_id}@broadsheet>",
        )
        if parcel.unsubscribe_url:
            message["List-Unsubscribe"] = f"<{parcel.unsubscribe_url}>"
            # RFC 8058: mail clients may unsubscribe with one POST, without opening a page.
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        self._add_bodies(message, parcel, when)
        if parcel.attach:
            maintype, subtype, params = _media_type(parcel.artifact.media_type)
            message.add_attachment(
                _read_artifact(parcel.artifact.path),
                maintype,
                subtype,
                filename=parcel.artifact.filename,
                params=params,
            )
        return self._dispatch(message, recipient.address, str(parcel.delivery_id))

    def send_notice(self, to: str, subject: str, text: str) -> dict[str, Any]:
        """Email a plain-text notice (a schedule's owner told of a final failure)."""
        if not EMAIL.fullmatch(to):
            raise DeliveryFailed(f"{to[:200]!r} is not an email address", permanent=True)
        name = f"notice-{uuid.uuid4()}"
        message = self._message(to, subject, f"<{name}@broadsheet>")
        message.set_content(text)
        return self._dispatch(message, to, name)

    def _message(self, to: str, subject: str, message_id: str) -> EmailMessage:
        message = EmailMessage(policy=POLICY)
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = _one_line(subject)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id
        # RFC 3834: out-of-office and other autoresponders do not answer reports.
        message["Auto-Submitted"] = "auto-generated"
        return message

    def _add_bodies(self, message: EmailMessage, parcel: Parcel, when: str) -> None:
        """Text, then HTML as its alternative, with the chart related to the HTML."""
        chart_cid = f"chart.{parcel.delivery_id}@broadsheet" if parcel.chart_png else None
        context = {
            "kind": parcel.kind,
            "report_name": _one_line(parcel.report_name),
            "schedule_name": _one_line(parcel.schedule_name),
            "scheduled_at": when,
            "parameters": [(name, _shown(value)) for name, value in parcel.parameters.items()],
            "summary": parcel.summary,
            "row_count": parcel.row_count,
            "chart_cid": chart_cid,
            "result_url": parcel.result_url,
            "attach": parcel.attach,
            "filename": parcel.artifact.filename,
            "size": _size(parcel.artifact.size),
            "artifact_url": parcel.artifact_url,
            "link_days": self.settings.artifact_link_days,
            "unsubscribe_url": parcel.unsubscribe_url,
        }
        message.set_content(TEMPLATES.get_template("email.txt.j2").render(context))
        message.add_alternative(
            TEMPLATES.get_template("email.html.j2").render(context), subtype="html"
        )
        if parcel.chart_png:
            _, html = message.iter_parts()
            html.add_related(
                parcel.chart_png,
                "image",
                "png",
                cid=f"<{chart_cid}>",
                disposition="inline",
                filename="chart.png",
            )

    def _dispatch(self, message: EmailMessage, to: str, name: str) -> dict[str, Any]:
        message_id = str(message["Message-ID"])
        if not self.settings.smtp_host:
            path = self._write_outbox(message, name)
            return {"messageId": message_id, "transport": "outbox", "path": str(path)}
        self._transmit(message, to)
        return {"messageId": message_id, "transport": "smtp"}

    def _write_outbox(self, message: EmailMessage, name: str) -> Path:
        folder = self.settings.outbox_dir
        _warn_outbox(folder)
        target = folder / f"{name}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(message.as_bytes())
                os.replace(temp, target)  # atomic: a reader of the folder sees whole messages
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DeliveryFailed(f"cannot write to the outbox {folder}: {exc}") from exc
        return target

    def _transmit(self, message: EmailMessage, to: str) -> None:
        settings = self.settings
        # smtplib's exceptions are OSErrors too, so this catches every way a send can fail.
        try:
            client = self._connect()
            try:
                if settings.smtp_security is SmtpSecurity.starttls:
                    client.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    client.login(settings.smtp_username, settings.smtp_password)
                # Only the recipient, whatever the headers say.
                client.send_message(message, to_addrs=[to])
                # The server has taken the message: a failed QUIT must not make it a failed
                # send, which would be retried and arrive twice.
                with suppress(OSError):
                    client.quit()
            finally:
                client.close()
        except OSError as exc:
            # Not chained: a server may echo what AUTH sent in its reply, and the description
            # already says what happened.
            raise DeliveryFailed(self._describe(exc), permanent=_permanent(exc)) from None

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        port = settings.smtp_port or DEFAULT_PORTS[settings.smtp_security]
        timeout = settings.delivery_timeout_seconds
        if settings.smtp_security is SmtpSecurity.ssl:
            # The default context verifies the certificate and host name (and honours
            # SSL_CERT_FILE for a private CA).
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(settings.smtp_host, port, timeout=timeout, context=context)
        return smtplib.SMTP(settings.smtp_host, port, timeout=timeout)

    def _describe(self, exc: OSError) -> str:
        """A short line saying what went wrong, never holding the SMTP password."""
        host = self.settings.smtp_host
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reply = next(iter(exc.recipients.values()))
            text = f"SMTP {code} from {host}: {_reply(reply)}"
        elif isinstance(exc, smtplib.SMTPResponseException):
            text = f"SMTP {exc.smtp_code} from {host}: {_reply(exc.smtp_error)}"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            text = f"the TLS certificate of {host} is not trusted: {exc.verify_message}"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            text = f"{host} closed the connection: {exc}"
        elif isinstance(exc, smtplib.SMTPException):
            text = f"SMTP server {host}: {exc}"
        else:
            port = self.settings.smtp_port or DEFAULT_PORTS[self.settings.smtp_security]
            text = f"cannot talk to SMTP server {host}:{port}: {exc.strerror or exc}"
        return self._redact(text)

    def _redact(self, text: str) -> str:
        """``text`` without the password, as given or as AUTH PLAIN and LOGIN encode it: some
        servers quote what they could not accept."""
        settings = self.settings
        if not settings.smtp_password:
            return text
        for secret in (
            settings.smtp_password,
            _base64(settings.smtp_password),
            _base64(f"\0{settings.smtp_username}\0{settings.smtp_password}"),
        ):
            text = text.replace(secret, "***")
        return text


def _permanent(exc: OSError) -> bool:
    """Whether sending again later cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500  # 4xx: try again later (greylisting, a full queue)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return False
    if isinstance(exc, smtplib.SMTPException):
        # No STARTTLS, no AUTH or no mechanism in common, no SMTPUTF8: the server's set-up.
        return True
    # Other OSErrors are the network; only a certificate that is not trusted stays so.
    return isinstance(exc, ssl.SSLCertVerificationError)


@functools.cache
def _warn_outbox(folder: Path) -> None:
    log.warning(
        "No SMTP server is configured (BROADSHEET_SMTP_HOST): email is written to %s instead",
        folder,
    )


def _local_time(instant: datetime, zone: str) -> str:
    """E.g. ``Mon 6 May 2024 09:00 EDT``: the instant as the schedule's owner thinks of it."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as single spaces."""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(item) for item in value)
    return str(value)


def _size(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GB"
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def _media_type(media_type: str) -> tuple[str, str, dict[str, str]]:
    """``text/csv; charset=utf-8`` as ``("text", "csv", {"charset": "utf-8"})``."""
    kind, *params = (part.strip() for part in media_type.split(";"))
    maintype, _, subtype = kind.partition("/")
    if not maintype or not subtype:
        return "application", "octet-stream", {}
    pairs = (param.partition("=") for param in params)
    return maintype, subtype, {key.strip(): value.strip().strip('"') for key, _, value in pairs}


def _read_artifact(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DeliveryFailed(f"the export {path.name} no longer exists", permanent=True) from None
    except OSError as exc:
        raise DeliveryFailed(f"cannot read the export {path.name}: {exc}") from exc


def _reply(reply: bytes | str) -> str:
    """A server's reply text, on one line and not too long to show."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _one_line(text)[:300]


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
