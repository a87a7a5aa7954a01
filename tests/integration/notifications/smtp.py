"""A real SMTP server for tests (`aiosmtpd`, in its own thread), that can be told to fail.

`Mailbox` keeps every accepted message; `fail_data` holds answers (e.g. "451 ...") for the
next DATA commands; `refuse_rcpt` answers every RCPT (e.g. "550 ..."). `tls_files` makes a
self-signed certificate for 127.0.0.1, for STARTTLS.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.server import free_port
from tests.support.tls import self_signed


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.fail_data: list[str] = []
        self.refuse_rcpt: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_data:
            return self.fail_data.pop(0)
        message = message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server(
    mailbox: Mailbox,
    *,
    tls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
) -> Iterator[int]:
    """Serve `mailbox` on 127.0.0.1; yields the port. With `tls`: STARTTLS required; with
    `implicit_tls`: TLS from the first byte; with `credentials`: AUTH (over TLS) required."""
    kwargs: dict[str, Any] = {}
    if implicit_tls is not None:
        kwargs |= {"ssl_context": implicit_tls}
    if tls is not None:
        kwargs |= {"tls_context": tls, "require_starttls": True}
    if credentials is not None:
        login, password = credentials

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                login.encode(),
                password.encode(),
            )
            return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535

        kwargs |= {"authenticator": authenticate, "auth_required": True}
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    return self_signed(directory, "smtp")


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
