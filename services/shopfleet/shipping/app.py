"""The shipping app: methods, addresses, quotes and shipments of every shop."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import purge_router
from shopfleet.shipping import api, internal_api
from shopfleet.shipping.events import subscriptions
from shopfleet.shipping.service import ShippingService
from shopfleet.shipping.settings import ShippingSettings
from shopfleet.shipping.upstreams import CATALOG_WORDING, ShopCurrencies

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: ShippingSettings) -> Database:
    """Shipping's database (the CLI runs `migrate()` on it)."""
    return Database.for_service("shipping", settings, MIGRATIONS)


def create_app(
    settings: ShippingSettings, blocks: Blocks, *, verifier: TokenVerifier | None = None
) -> FastAPI:
    db = open_database(settings)
    timeout = settings.call_timeout_s
    identity = IdentityClient(blocks.invoker, app_id=settings.identity_app_id, timeout_s=timeout)
    catalog = CatalogClient(
        blocks.invoker,
        app_id=settings.catalog_app_id,
        timeout_s=timeout,
        wording=CATALOG_WORDING,
    )
    shipping = ShippingService(settings, ShopCurrencies(identity), catalog)
    # order.paid makes shipments, order.cancelled cancels them; declared before pub/sub starts.
    for subscription in subscriptions(db, shipping.shipments):
        blocks.pubsub.subscribe(subscription)
    relay = OutboxRelay(db, blocks.pubsub, source="shipping")
    app = service_app(
        "shipping",
        description="Shipping methods, shoppers' addresses, quotes, one shipment per paid order.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[api.router, internal_api.router, purge_router("shipping")],
        verifier=verifier,
        on_start=[relay.start],
        on_stop=[relay.stop],
    )
    app.state.shipping = shipping
    return app
