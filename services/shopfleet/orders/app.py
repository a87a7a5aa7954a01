"""The orders app: each shop's orders, from checkout to delivery, cancel or refund."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI

from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.quotas import QuotaReader
from shopfleet.kit.reads import FastReader
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import purge_router, usage_router
from shopfleet.orders import api, events
from shopfleet.orders.service import Orders
from shopfleet.orders.settings import OrdersSettings
from shopfleet.orders.upstreams import Upstreams

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger("shopfleet.orders.sweeper")


def open_database(settings: OrdersSettings) -> Database:
    """Orders' database (the CLI runs `migrate()` on it)."""
    return Database.for_service("orders", settings, MIGRATIONS)


class Sweeper:
    """Runs `Orders.sweep` every `interval_s` while the app runs (every replica does;
    the sweep's conditional updates and SKIP LOCKED keep them from doing work twice)."""

    def __init__(self, orders: Orders, interval_s: float, *, stop_timeout_s: float = 10) -> None:
        self.orders, self.interval_s, self.stop_timeout_s = orders, interval_s, stop_timeout_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="orders-sweeper")

    async def stop(self) -> None:
        """Let a round in progress finish (it may be telling catalog something), then stop."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, self.stop_timeout_s)
        except TimeoutError:
            log.warning("orders.sweeper.stop_timeout")  # the task was cancelled; next start
        finally:  # (or another replica) finishes what is pending
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                done = await self.orders.sweep()
                if any(done.values()):
                    log.info("orders.swept", **done)
            except Exception:
                log.exception("orders.sweep_failed")


def create_app(
    settings: OrdersSettings,
    blocks: Blocks,
    *,
    verifier: TokenVerifier | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    db = open_database(settings)
    upstreams = Upstreams(
        blocks.invoker,
        timeout_s=settings.timeout_s(),
        cart=settings.cart_app_id,
        catalog=settings.catalog_app_id,
        shipping=settings.shipping_app_id,
    )
    reads = FastReader(db, pool_size=settings.db_pool_size, name="orders-reads")
    orders = Orders(
        db,
        upstreams,
        reads,
        payment_window=timedelta(seconds=settings.payment_window_s),
        placing_timeout=timedelta(seconds=settings.placing_timeout_s),
        max_unpaid_orders=settings.max_unpaid_orders,
        clock=clock,
        quotas=QuotaReader(
            blocks.invoker,
            identity_app_id=settings.identity_app_id,
            timeout_s=settings.timeout_s(),
            ttl_s=settings.platform.quota_ttl_s,
        ),
    )
    for subscription in events.subscriptions(db, orders):
        blocks.pubsub.subscribe(subscription)
    relay = OutboxRelay(db, blocks.pubsub, source="orders")
    sweeper = Sweeper(orders, settings.sweep_interval_s)
    app = service_app(
        "orders",
        description="Each shop's orders: checkout from the cart, status history, cancel, "
        "expiry of unpaid orders, and the checkout saga's reactions to payments and shipping.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[api.router, api.internal, purge_router("orders"), usage_router(orders.usage)],
        verifier=verifier,
        on_start=[reads.start, relay.start, sweeper.start],
        on_stop=[sweeper.stop, relay.stop, reads.stop],
    )
    app.state.orders = orders
    app.state.sweeper = sweeper
    return app
