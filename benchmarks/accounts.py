"""Dedicated shops' own accounts: what the operator's `Accounts` costs on this machine's
PostgreSQL and RabbitMQ (make a shop's role, nine databases, vhost and user; a repeat, which
touches neither store; removal with `deletionPolicy: Delete`), and on its Redis (the shop's
ACL user alone: made; removed with its keys, `--keys` of them).

    .venv/bin/python -m benchmarks.accounts [--shops 10] [--keys 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import redis.asyncio as aioredis

from shopfleet_operator.build.accounts import TenantAccount, redis_key_prefix, tenant_account_name
from shopfleet_operator.build.secrets import account_secret
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from shopfleet_operator.handlers.accounts import Accounts
from tests.operator.shops import shop as shop_manifest
from tests.support import accounts


class Records:
    """The Kubernetes API as far as `Accounts` reads it: the account records (Secrets) the
    reconciles wrote."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict] = {}

    async def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        return self.secrets.get(name)


async def main(count: int, keys: int) -> None:
    prefix = f"sfbench_{os.getpid()}_"
    config = Config.from_env(accounts.operator_env(prefix))
    made, kube = Accounts(config), Records()
    timings: dict[str, list[float]] = {
        "make": [],
        "repeat": [],
        "remove": [],
        "redis make": [],
        "redis remove": [],
    }
    try:
        for i in range(count):
            manifest = shop_manifest(f"acc{i:03d}", tier="dedicated", stateStore="postgresql")
            shop = Shop.model_validate(manifest)
            for step in ("make", "repeat"):
                started = time.perf_counter()
                account = await made.ensure(kube, shop)  # type: ignore[arg-type]
                timings[step].append(time.perf_counter() - started)
                record = account_secret(shop, config, account)
                kube.secrets[record["metadata"]["name"]] = record
        for i in range(count):
            started = time.perf_counter()
            await made.remove(f"acc{i:03d}", drop_data=True)
            timings["remove"].append(time.perf_counter() - started)
        await _redis_users(made, config, count, keys, timings)
    finally:
        await made.close()
        await asyncio.to_thread(accounts.drop_prefixed, prefix)
    for step, values in timings.items():
        print(
            f"{step:>12}: p50 {statistics.median(values) * 1000:8.1f} ms, "
            f"max {max(values) * 1000:8.1f} ms  ({len(values)} shops)"
        )


async def _redis_users(
    made: Accounts, config: Config, count: int, keys: int, timings: dict[str, list[float]]
) -> None:
    """The Redis part alone (Accounts' own steps): ACL SETUSER; ACL DELUSER and SCAN + DEL
    of the shop's `keys` keys, among the platform's other keys."""
    admin = aioredis.Redis.from_url(accounts.REDIS)
    try:
        for i in range(count):
            name = f"acc{i:03d}"
            account = TenantAccount(tenant_account_name(name, config), "pw")
            started = time.perf_counter()
            await made._redis_ensure(name, account)
            timings["redis make"].append(time.perf_counter() - started)
            prefix = redis_key_prefix(name, config)
            async with admin.pipeline(transaction=False) as pipe:
                for k in range(keys):
                    pipe.hset(f"{prefix}||cart-{k}", mapping={"v": "{}", "e": "1"})
                await pipe.execute()
            started = time.perf_counter()
            await made._redis_remove(name, account.name, drop_data=True)
            timings["redis remove"].append(time.perf_counter() - started)
    finally:
        await admin.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shops", type=int, default=10)
    parser.add_argument("--keys", type=int, default=1000, help="Redis keys per shop")
    args = parser.parse_args()
    asyncio.run(main(args.shops, args.keys))
