"""Deleting what the dev platform's doubles leave in RabbitMQ and Redis (after a stop)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable


async def delete_namespace(
    amqp_url: str, redis_url: str, prefix: str, queues: Iterable[str]
) -> None:
    """The `queues`, the doubles' exchange `<prefix>pubsub` and every Redis key under `prefix`."""
    import aio_pika
    import redis.asyncio as aioredis

    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        for queue in sorted(queues):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(f"{prefix}pubsub")
    finally:
        await connection.close()
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()
