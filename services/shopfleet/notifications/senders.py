"""The sender port and its adapters: how one notification leaves.

`LogSender` writes it to the structured log (the embedded platform's default);
`SmtpSender` sends it as e-mail with the standard library's `smtplib`, run in a thread so
the event loop never waits on the network. A sender raises `SendError`: `permanent` when
trying again cannot help (the server refused the recipient or the message for good, SMTP
5xx), temporary otherwise (4xx, connection refused, timeout, no address known yet).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

import structlog

from shopfleet.notifications.settings import NotificationsSettings

log = structlog.get_logger("shopfleet.notifications.sender")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification on its way to its shopper."""

    notification_id: str
    shop: str
    user_id: str
    email: str | None  # None: identity has not told us this user's address (yet)
    display_name: str | None
    subject: str
    body: str


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(ABC):
    name: str

    @abstractmethod
    async def send(self, message: Outgoing) -> None:
        """Deliver `message`, or raise `SendError`."""


class LogSender(Sender):
    """Writes each notification to the log: nothing leaves the process."""

    name = "log"

    async def send(self, message: Outgoing) -> None:
        log.info(
            "notification.sent",
            channel="log",
            shop=message.shop,
            user_id=message.user_id,
            to=message.email,
            notification_id=message.notification_id,
            subject=message.subject,
            body=message.body,
        )


class SmtpSender(Sender):
    """E-mail through an SMTP server: implicit TLS or STARTTLS, optional login."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        starttls: bool = True,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.use_ssl = starttls, use_ssl
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.tls_context = tls_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: NotificationsSettings) -> SmtpSender:
        assert settings.smtp_host, "validated by NotificationsSettings"
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
            username=settings.smtp_username,
            password=password,
            timeout_s=settings.smtp_timeout_s,
            tls_context=ssl.create_default_context(cafile=settings.smtp_ca_file),
        )

    def compose(self, message: Outgoing) -> EmailMessage:
        if not message.email:
            raise SendError(f"no e-mail address known for user '{message.user_id}' yet")
        email = EmailMessage()
        email["From"] = self.sender
        try:
            email["To"] = Address(display_name=message.display_name or "", addr_spec=message.email)
        except (ValueError, IndexError) as exc:
            raise SendError(f"invalid address {message.email!r}: {exc}", permanent=True) from None
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(idstring=message.notification_id)
        greeting = f"Hello {message.display_name},\n\n" if message.display_name else ""
        email.set_content(f"{greeting}{message.body}\n")
        return email

    async def send(self, message: Outgoing) -> None:
        email = self.compose(message)
        await asyncio.to_thread(self._send_sync, email)

    def _send_sync(self, email: EmailMessage) -> None:
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_s, context=self.tls_context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with client:
                if self.starttls and not self.use_ssl:
                    client.starttls(context=self.tls_context)
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendError(
                f"recipient refused: {exc.recipients}", permanent=_final(*codes)
            ) from None
        except smtplib.SMTPAuthenticationError as exc:  # fixable settings: keep trying
            raise SendError(f"SMTP login failed: {exc.smtp_code} {_text(exc)}") from None
        except smtplib.SMTPResponseException as exc:  # SMTPSenderRefused, SMTPDataError, ...
            raise SendError(
                f"SMTP {exc.smtp_code}: {_text(exc)}", permanent=_final(exc.smtp_code)
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS
            raise SendError(f"{type(exc).__name__}: {exc}") from None


def _text(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)


def _final(*codes: int) -> bool:
    """SMTP 5xx: the server will answer the same again (RFC 5321 §4.2.1)."""
    return bool(codes) and all(500 <= code < 600 for code in codes)


def sender_from_settings(settings: NotificationsSettings) -> Sender:
    return SmtpSender.from_settings(settings) if settings.sender == "smtp" else LogSender()
