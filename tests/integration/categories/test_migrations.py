"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from shopfleet.categories.app import MIGRATIONS
from shopfleet.categories.models import (
    Category,
    CategoryProduct,
    CategoryProductLink,
    CategoryTreeState,
)
from tests.support.migrations import migration_drift

TABLES = [CategoryTreeState, Category, CategoryProduct, CategoryProductLink]


async def test_migration_matches_the_models(categories: Any, settings: Any) -> None:
    drift = await migration_drift(
        settings.database_url, service="categories", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
