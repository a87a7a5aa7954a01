"""Stripe for tests: the real emulator (localstripe) as a process, apps served on real
sockets (so the emulator's webhooks reach them), a Stripe that answers 500, and a closed
port (a Stripe that cannot be reached)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import uvicorn
from aiohttp import web
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfleet.payments.emulator import StripeEmulator


@asynccontextmanager
async def running_emulator(log_dir: Path) -> AsyncIterator[StripeEmulator]:
    """The platform's Stripe emulator process; `.url` is its address."""
    emulator = StripeEmulator(log_path=log_dir / "stripe-emulator.log", webhook_delay_s=0.02)
    async with aiohttp.ClientSession() as session:
        await emulator.ensure_started(session)
    try:
        yield emulator
    finally:
        await emulator.stop()


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def closed_port_url() -> str:
    """An address where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def served(app: ASGIApp, sock: socket.socket) -> AsyncIterator[str]:
    """Serve `app` (lifespan and all) with uvicorn on `sock`; yields its base URL."""
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # start-up failed: raise its error
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def failing_stripe(status: int = 500) -> AsyncIterator[str]:
    """A 'Stripe' that answers every request with `status`."""

    async def fail(_: web.Request) -> web.Response:
        body = {"error": {"type": "api_error", "message": "Something went wrong on our end."}}
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fail)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = listening_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


def signature_header(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe signs it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), b"%d.%s" % (stamp, payload), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


class WebhookRecorder:
    """ASGI middleware keeping every Stripe webhook delivery (body and signature) as it came,
    so a test can replay one exactly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.deliveries: list[tuple[bytes, str | None, int]] = []  # body, signature, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/payments/webhooks/stripe"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        signature = next(
            (v.decode() for k, v in scope["headers"] if k == b"stripe-signature"), None
        )
        sent = False
        status = 0

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, replay, watch)
        self.deliveries.append((body, signature, status))
