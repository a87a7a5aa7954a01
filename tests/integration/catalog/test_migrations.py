"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from shopfleet.catalog.app import MIGRATIONS
from shopfleet.catalog.models import TABLES
from tests.support.migrations import migration_drift


async def test_migration_matches_the_models(catalog: Any, settings: Any) -> None:
    drift = await migration_drift(
        settings.database_url, service="catalog", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
