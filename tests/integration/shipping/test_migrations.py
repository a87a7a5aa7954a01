"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from shopfleet.shipping.app import MIGRATIONS
from shopfleet.shipping.models import TABLES
from tests.support.migrations import migration_drift


async def test_migration_matches_the_models(shipping: Any, settings: Any) -> None:
    drift = await migration_drift(
        settings.database_url, service="shipping", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
