"""Helpers for tests that pair an app with a sidecar double (`shopfleet.devtools.
sidecar_double`) inside the test's event loop.

`AppServer` serves an ASGI app with uvicorn on a free port (the app a double delivers to
and forwards invocations to); `DoubleRun` names one test's broker/Redis namespace and
removes everything in it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

from shopfleet.devtools.sidecar_double.broker import delete_broker_objects
from shopfleet.devtools.sidecar_double.config import SidecarConfig
from shopfleet.devtools.sidecar_double.double import SidecarDouble
from tests.conftest import RUN_ID, require_service
from tests.support.redis import REDIS_HOST, REDIS_PORT, REDIS_URL, drop_redis_keys

AMQP_HOST = os.environ.get("SHOPFLEET_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("SHOPFLEET_TEST_AMQP_PORT", "5672"))
AMQP_URL = f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/"


def require_backends(*, rabbitmq: bool = True) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    if rabbitmq:
        require_service("RabbitMQ", AMQP_HOST, AMQP_PORT)


class AppServer:
    """uvicorn serving `app` on 127.0.0.1:<free port>, in this event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AppServer:
        # `_serve`, not `serve`: the test process keeps its own signal handlers.
        self._task = asyncio.create_task(self._server._serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what went wrong
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        """Graceful: requests in flight finish first."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None

    async def crash(self) -> None:
        """Die at once: requests in flight are cancelled, their answers never sent."""
        if self._task is None:
            return
        self._server.force_exit = True
        self._server.should_exit = True
        for task in list(self._server.server_state.tasks):
            task.cancel()
        await self._task
        self._task = None


@dataclass
class DoubleRun:
    """One test's namespace on the shared Redis and RabbitMQ, and the doubles in it."""

    prefix: str = field(default_factory=lambda: f"sftest-{RUN_ID}-{uuid.uuid4().hex[:8]}.")
    doubles: list[SidecarDouble] = field(default_factory=list)
    exchanges: set[str] = field(default_factory=set)  # made by doubles in other processes

    def config(self, app_id: str, **overrides: object) -> SidecarConfig:
        options: dict[str, object] = {
            "redis_url": REDIS_URL,
            "amqp_url": AMQP_URL,
            "prefix": self.prefix,
            "retry_base_s": 0.01,
            "retry_max_s": 0.04,
            "app_ready_timeout_s": 10.0,
        }
        options.update(overrides)
        return SidecarConfig(app_id=app_id, **options)  # type: ignore[arg-type]

    async def start(self, app_id: str, **overrides: object) -> SidecarDouble:
        double = SidecarDouble(self.config(app_id, **overrides))
        await double.start()
        self.doubles.append(double)
        return double

    async def cleanup(self) -> None:
        for double in self.doubles:
            await double.stop()
        queues: set[str] = set()
        exchanges: set[str] = set(self.exchanges)
        for double in self.doubles:
            for name, broker in double.brokers.items():
                queues |= broker.declared_queues
                exchanges.add(broker.exchange_name(name))
        if exchanges or queues:
            await delete_broker_objects(AMQP_URL, queues, exchanges)
        await drop_redis_keys(f"{self.prefix}*")
