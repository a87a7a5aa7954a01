"""The catalog app: products, prices, images, stock levels and reservations of every shop."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shopfleet.catalog import api, events, internal_api
from shopfleet.catalog.deps import Catalog
from shopfleet.catalog.imagestore import ImageStore, LocalImageStore
from shopfleet.catalog.reader import ListingReader
from shopfleet.catalog.service import images as images_of_shop
from shopfleet.catalog.service import products
from shopfleet.catalog.settings import CatalogSettings
from shopfleet.catalog.shops import ShopDirectory
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.quotas import QuotaReader
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import Usage, purge_router, usage_router

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: CatalogSettings) -> Database:
    return Database.for_service("catalog", settings, MIGRATIONS)


def create_app(
    settings: CatalogSettings,
    blocks: Blocks,
    *,
    verifier: TokenVerifier | None = None,
    image_store: ImageStore | None = None,
) -> FastAPI:
    """Build the app; its subscriptions are declared here, before the pub/sub starts."""
    db = open_database(settings)
    quotas = QuotaReader(
        blocks.invoker,
        identity_app_id=settings.identity_app_id,
        timeout_s=settings.platform.call_timeout_s,
        ttl_s=settings.platform.quota_ttl_s,
    )
    shops = ShopDirectory(
        db,
        blocks.invoker,
        identity_app_id=settings.identity_app_id,
        timeout_s=settings.platform.call_timeout_s,
        quotas=quotas,
    )
    for subscription in events.subscriptions(db, shops):
        blocks.pubsub.subscribe(subscription)
    relay = OutboxRelay(db, blocks.pubsub, source="catalog")
    reader = ListingReader(db, pool_size=settings.db_pool_size, name="catalog-listing")
    images = image_store or LocalImageStore(settings.resolved_images_dir())

    async def before_purge(shop: str) -> None:
        shops.forget(shop)  # this replica's memory; others learn of a new shop by its event
        await images_of_shop.delete_all(db, images, shop)

    async def usage(shop: str) -> Usage:
        return await products.usage(db, quotas, shop)

    app = service_app(
        "catalog",
        description="Products, prices, images, stock levels and stock reservations.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[
            api.router,
            internal_api.router,
            purge_router("catalog", before_delete=before_purge),
            usage_router(usage),
        ],
        verifier=verifier,
        on_start=[reader.start, relay.start],
        on_stop=[relay.stop, reader.stop],
    )
    app.state.catalog = Catalog(settings, shops, images, reader, quotas)
    return app
