"""What the backing services did over a measured window, for the capacity section:
PostgreSQL transactions and rows written per service database (pg_stat_database), messages
published to the platform's exchanges and delivered from its queues (RabbitMQ's management
API), and Redis commands (INFO: the whole server's, so other users' count too).

Approximate by nature: PostgreSQL backends report their counters up to a second or so
late (longer when idle), RabbitMQ's management samples every 5 s. Whatever cannot be read
is left out (None), never guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

MANAGEMENT_URL = "http://127.0.0.1:15672"


@dataclass
class Counters:
    commits: dict[str, int] = field(default_factory=dict)  # per service
    rows_written: dict[str, int] = field(default_factory=dict)  # inserted + updated + deleted
    published: int | None = None
    delivered: int | None = None
    redis_commands: int | None = None


async def postgres_counters(admin_dsn: str, databases: Mapping[str, str]) -> Counters:
    """`databases`: service → database name."""
    import asyncpg

    by_name = {db: service for service, db in databases.items()}
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname, xact_commit, tup_inserted + tup_updated + tup_deleted AS written"
            " FROM pg_stat_database WHERE datname = any($1::text[])",
            list(by_name),
        )
    finally:
        await conn.close()
    counters = Counters()
    for row in rows:
        counters.commits[by_name[row["datname"]]] = row["xact_commit"]
        counters.rows_written[by_name[row["datname"]]] = row["written"]
    return counters


async def rabbitmq_counters(amqp_url: str, prefix: str) -> tuple[int, int] | None:
    """Messages published to, and delivered from, the exchanges and queues of `prefix`."""
    parts = urlsplit(amqp_url)
    login = {
        "Authorization": aiohttp.encode_basic_auth(
            parts.username or "guest", parts.password or "guest"
        )
    }
    totals = []
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(headers=login, timeout=timeout) as http:
        for kind, counter in (("exchanges", "publish_in"), ("queues", "deliver_get")):
            async with http.get(f"{MANAGEMENT_URL}/api/{kind}/%2F") as answer:
                if answer.status != 200:
                    return None
                entries = await answer.json()
            totals.append(
                sum(
                    (e.get("message_stats") or {}).get(counter, 0)
                    for e in entries
                    if e["name"].startswith(prefix)
                )
            )
    return totals[0], totals[1]


async def redis_commands(redis_url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        return int((await client.info("stats"))["total_commands_processed"])
    finally:
        await client.aclose()


async def read_counters(
    admin_dsn: str, databases: Mapping[str, str], amqp_url: str, prefix: str, redis_url: str
) -> Counters:
    counters = await postgres_counters(admin_dsn, databases)
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
        broker = await rabbitmq_counters(amqp_url, prefix)
        if broker is not None:
            counters.published, counters.delivered = broker
    with contextlib.suppress(Exception):  # a missing figure, not a failed benchmark
        counters.redis_commands = await redis_commands(redis_url)
    return counters


def _minus(end: int | None, start: int | None) -> int | None:
    return None if end is None or start is None else end - start


def difference(start: Counters, end: Counters) -> Counters:
    return Counters(
        {s: end.commits[s] - start.commits.get(s, 0) for s in end.commits},
        {s: end.rows_written[s] - start.rows_written.get(s, 0) for s in end.rows_written},
        _minus(end.published, start.published),
        _minus(end.delivered, start.delivered),
        _minus(end.redis_commands, start.redis_commands),
    )


class CounterWindow:
    """Reads the counters when a window opens and when it closes (`mark` is called from
    a synchronous window callback: each read runs as a task, awaited by `result`)."""

    def __init__(
        self,
        admin_dsn: str,
        databases: Mapping[str, str],
        amqp_url: str,
        prefix: str,
        redis_url: str,
    ) -> None:
        self.args = (admin_dsn, databases, amqp_url, prefix, redis_url)
        self.reads: dict[bool, asyncio.Task[Counters]] = {}

    def mark(self, start: bool) -> None:
        self.reads[start] = asyncio.get_running_loop().create_task(read_counters(*self.args))

    async def result(self) -> Counters:
        return difference(await self.reads[True], await self.reads[False])
