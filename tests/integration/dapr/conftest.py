"""Apps paired with sidecar doubles on the machine's Redis and RabbitMQ, one namespace per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from starlette.types import ASGIApp

from shopfleet.devtools.sidecar_double import SidecarDouble
from shopfleet.kit.blocks.dapr import DaprSidecar
from tests.support.sidecar_double import AppServer, DoubleRun, require_backends


@pytest.fixture
async def double_run() -> AsyncIterator[DoubleRun]:
    require_backends()
    run = DoubleRun()
    try:
        yield run
    finally:
        await run.cleanup()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[ASGIApp], Awaitable[AppServer]]]:
    """`await serve(app)` -> the app listening on a free port; stopped after the test."""
    servers: list[AppServer] = []

    async def start(app: ASGIApp) -> AppServer:
        server = await AppServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def sidecar_of(double: SidecarDouble) -> DaprSidecar:
    """How the app's adapters reach `double` (what DAPR_GRPC_PORT/DAPR_HTTP_PORT say)."""
    return DaprSidecar(
        app_id=double.config.app_id,
        grpc_port=double.grpc_port,
        http_port=double.http_port,
        ready_timeout_s=10,
    )
