"""Serve an ASGI app (the embedded platform, one service) on a real loopback port.

For tests where something outside the test's client must reach the app: the Stripe
emulator posting webhooks, another process calling in. Runs uvicorn on the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

from shopfleet.kit.server import server_config
from shopfleet.kit.settings import PlatformSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp,
    port: int,
    *,
    startup_timeout_s: float = 60,
    settings: PlatformSettings | None = None,
) -> AsyncIterator[str]:
    """Run `app` (lifespan included) on 127.0.0.1:`port`; yields its base URL.

    The server is configured as every server of ours is (kit/server.py), from `settings`
    (trusted proxies, request-head limits; default: the defaults)."""
    server = uvicorn.Server(
        server_config(
            app,
            settings or PlatformSettings(),
            host="127.0.0.1",
            port=port,
            timeout_graceful_shutdown=5,
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test's
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + startup_timeout_s
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the start-up
            raise RuntimeError(f"uvicorn did not start on port {port}")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the app did not start on port {port} in {startup_timeout_s} s")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
