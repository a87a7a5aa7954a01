"""The machine's Redis for tests: where it is, unique key prefixes, and clean-up."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from tests.conftest import RUN_ID

REDIS_HOST = os.environ.get("SHOPFLEET_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SHOPFLEET_TEST_REDIS_PORT", "6379"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def redis_test_prefix() -> str:
    """A key prefix no other test (or run, or xdist worker) uses."""
    return f"sftest-{RUN_ID}-{uuid.uuid4().hex[:8]}"


async def drop_redis_keys(pattern: str) -> None:
    """Delete every Redis key matching `pattern` (SCAN + DEL: never FLUSHDB a shared Redis)."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async for batch in _scan_batches(client, pattern):
            await client.delete(*batch)
    finally:
        await client.aclose()


async def _scan_batches(client: aioredis.Redis, pattern: str) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=500):
        batch.append(key)
        if len(batch) == 500:
            yield batch
            batch = []
    if batch:
        yield batch
