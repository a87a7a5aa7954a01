"""The categories app: each shop's category tree and category-based product filtering."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shopfleet.categories.api import router
from shopfleet.categories.domain.rules import Limits
from shopfleet.categories.events import subscriptions
from shopfleet.categories.settings import CategoriesSettings
from shopfleet.categories.tree_cache import TreeCache
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.reads import FastReader
from shopfleet.kit.service import service_app
from shopfleet.kit.tenant_data import purge_router

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: CategoriesSettings) -> Database:
    """Categories' database (the CLI runs `migrate()` on it)."""
    return Database.for_service("categories", settings, MIGRATIONS)


def create_app(
    settings: CategoriesSettings, blocks: Blocks, *, verifier: TokenVerifier | None = None
) -> FastAPI:
    db = open_database(settings)
    # Catalog's product events feed the products projection; declared before pub/sub starts.
    for subscription in subscriptions(db):
        blocks.pubsub.subscribe(subscription)
    relay = OutboxRelay(db, blocks.pubsub, source="categories")
    reader = FastReader(db, pool_size=settings.db_pool_size, name="categories-reads")
    trees = TreeCache(db, reader)

    async def before_purge(shop: str) -> None:
        trees.forget(shop)  # this replica's memory; the tree's version tells the others

    app = service_app(
        "categories",
        description="Each shop's category tree, and the products in a category and below it.",
        db=db,
        blocks=blocks,
        platform=settings.platform,
        routers=[router, purge_router("categories", before_delete=before_purge)],
        verifier=verifier,
        on_start=[reader.start, relay.start],
        on_stop=[relay.stop, reader.stop],
    )
    app.state.trees = trees
    app.state.limits = Limits(max_depth=settings.max_depth, max_categories=settings.max_categories)
    return app
