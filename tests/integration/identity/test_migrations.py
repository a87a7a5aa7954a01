"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from shopfleet.identity.app import MIGRATIONS
from shopfleet.identity.models import RefreshToken, Shop, SigningKey, User
from tests.support.migrations import migration_drift

TABLES = [Shop, User, RefreshToken, SigningKey]


async def test_migration_matches_the_models(identity: Any, settings: Any) -> None:
    drift = await migration_drift(
        settings.database_url, service="identity", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
