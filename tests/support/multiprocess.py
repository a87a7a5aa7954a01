"""The multi-process platform for tests: one start per session (about ten processes, each
with its own sidecar double), per-run databases, a namespace of its own on the machine's
Redis and RabbitMQ, and a watch on the dead-letter topic.

`shopfleet.dev.multiprocess.MultiProcessPlatform` does the work; this module adds what only
tests need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.dev.plan import DevOptions
from shopfleet.serve import migrations_dir
from shopfleet.services import SERVICES
from tests.conftest import RUN_ID, PostgresDatabases, require_service
from tests.support.platform import PLATFORM_TOKEN
from tests.support.redis import REDIS_HOST, REDIS_PORT, REDIS_URL
from tests.support.sidecar_double import AMQP_HOST, AMQP_PORT, AMQP_URL

# The tests measure behaviour, not the 429 path: every request comes from 127.0.0.1 here.
NO_RATE_LIMITS = {
    "SHOPFLEET_GATEWAY_CLIENT_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_CLIENT_BURST": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_BURST": "1000000",
}


class DeadLetters:
    """A queue bound to the `deadletter` topic of the platform's exchange: every event a
    sidecar gave up on (after its attempts, or on DROP) lands here."""

    def __init__(self, prefix: str) -> None:
        self.exchange = f"{prefix}pubsub"
        self.queue = f"{prefix}observer-deadletter"
        self.seen: list[dict[str, Any]] = []

    async def bind(self) -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(exchange, routing_key="deadletter")
        finally:
            await connection.close()

    async def drain(self) -> list[dict[str, Any]]:
        """Everything dead-lettered so far (cumulative)."""
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, durable=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                self.seen.append(orjson.loads(message.body))
        finally:
            await connection.close()
        return self.seen


@asynccontextmanager
async def multiprocess_platform(
    postgres: PostgresDatabases,
    run_dir: Path,
    env: dict[str, str] | None = None,
    *,
    sidecar_args: tuple[str, ...] = (),
) -> AsyncIterator[tuple[MultiProcessPlatform, DeadLetters]]:
    """Every service of SERVICES + the gateway, each with a double; the demo shop seeded.
    `env`: more settings for every process."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    require_service("RabbitMQ", AMQP_HOST, AMQP_PORT)
    urls = {
        name: await postgres.create(f"mp_{name}")
        for name in SERVICES
        if migrations_dir(name) is not None
    }
    prefix = f"sftest-{RUN_ID}-mp."
    options = DevOptions(
        run_dir=run_dir,
        prefix=prefix,
        database_urls=urls,
        platform_token=PLATFORM_TOKEN,
        redis_url=REDIS_URL,
        amqp_url=AMQP_URL,
        env={**NO_RATE_LIMITS, **(env or {})},
        # short grace: nothing is in flight when the session ends
        stop_grace_s=10.0,
        # A delivery to an app that is down is retried 2, 4, 8, 16 s apart before it is
        # dead-lettered: a restart on a busy 2-core machine (≈ 10 s) fits with room to spare.
        sidecar_args=("--retry-base-s", "2", "--retry-max-s", "30", *sidecar_args),
    )
    platform = MultiProcessPlatform(options)
    dead = DeadLetters(prefix)
    await dead.bind()  # before any process publishes
    try:
        await platform.start()
        yield platform, dead
    finally:
        await platform.stop()
        await platform.purge_namespace(extra_queues=[dead.queue])


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout_s: float = 60.0
) -> Any:
    """Poll `probe` until `check` holds (events cross processes and a broker here)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; last: {value}")
        await asyncio.sleep(0.1)
