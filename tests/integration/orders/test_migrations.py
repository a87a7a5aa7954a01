"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from shopfleet.orders.app import MIGRATIONS
from shopfleet.orders.models import TABLES
from shopfleet.orders.settings import OrdersSettings
from tests.support.migrations import migration_drift


async def test_migration_matches_the_models(settings: OrdersSettings) -> None:
    assert settings.database_url is not None
    drift = await migration_drift(
        settings.database_url, service="orders", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
