"""The notifications app: what each shopper is told about their orders, and its delivery."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import purge_router
from shopfleet.notifications.api import router
from shopfleet.notifications.deliveries import DeliveryWorker
from shopfleet.notifications.domain.retries import RetryPolicy
from shopfleet.notifications.events import subscriptions
from shopfleet.notifications.senders import Sender, sender_from_settings
from shopfleet.notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: NotificationsSettings) -> Database:
    """Notifications' database (the CLI runs `migrate()` on it)."""
    return Database.for_service("notifications", settings, MIGRATIONS)


def create_app(
    settings: NotificationsSettings,
    blocks: Blocks,
    *,
    verifier: TokenVerifier | None = None,
    sender: Sender | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app; `sender` replaces the one the settings name, `clock` (unix seconds)
    drives the delivery schedule (tests move it to let back-off pass)."""
    db = open_database(settings)
    worker = DeliveryWorker(
        db,
        sender or sender_from_settings(settings),
        policy=RetryPolicy(settings.max_attempts, settings.backoff_s, settings.max_backoff_s),
        batch_size=settings.batch_size,
        concurrency=settings.concurrency,
        lease_s=settings.lease_s,
        poll_interval_s=settings.poll_interval_s,
        clock=clock,
    )
    # Orders', payments', shipping's and identity's events; declared before pub/sub starts.
    for subscription in subscriptions(db, worker):
        blocks.pubsub.subscribe(subscription)
    hooks = ([worker.start], [worker.stop]) if settings.worker_enabled else ([], [])
    app = service_app(
        "notifications",
        description="What each shopper is told about their orders (placed, paid, shipped, "
        "delivered, cancelled, refunded, payment failed), and how its delivery went.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[router, purge_router("notifications")],
        verifier=verifier,
        on_start=hooks[0],
        on_stop=hooks[1],
    )
    app.state.deliveries = worker
    return app
