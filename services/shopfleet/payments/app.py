"""The payments app: Stripe PaymentIntents, refunds, webhooks and the reconciler."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import purge_router
from shopfleet.payments.api import router
from shopfleet.payments.events import subscriptions
from shopfleet.payments.reconciler import Reconciler
from shopfleet.payments.service import PaymentsService
from shopfleet.payments.settings import PaymentsSettings
from shopfleet.payments.stripe_accounts import StripeAccounts

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: PaymentsSettings) -> Database:
    """Payments' database (the CLI runs `migrate()` on it)."""
    return Database.for_service("payments", settings, MIGRATIONS)


def create_app(
    settings: PaymentsSettings, blocks: Blocks, *, verifier: TokenVerifier | None = None
) -> FastAPI:
    db = open_database(settings)
    accounts = StripeAccounts(settings, blocks)
    payments = PaymentsService(db, accounts, blocks.invoker, settings)
    for subscription in subscriptions(db, payments):
        blocks.pubsub.subscribe(subscription)
    relay = OutboxRelay(db, blocks.pubsub, source="payments")
    reconciler = Reconciler(payments, settings.reconcile_interval_s)

    async def start_stripe() -> None:
        await accounts.start()
        if settings.stripe_emulator == "auto" and settings.stripe_emulator_eager:
            await accounts.start_emulator()

    app = service_app(
        "payments",
        description="Stripe PaymentIntents for orders, refunds, and Stripe's webhooks.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[router, purge_router("payments")],
        verifier=verifier,
        on_start=[start_stripe, relay.start, reconciler.start],
        on_stop=[accounts.stop, relay.stop, reconciler.stop],
    )
    app.state.payments = payments
    app.state.stripe = accounts  # `app.state.stripe.emulator_pid`: the emulator's process
    return app
