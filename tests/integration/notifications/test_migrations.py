"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from shopfleet.notifications.app import MIGRATIONS
from shopfleet.notifications.models import TABLES
from shopfleet.notifications.settings import NotificationsSettings
from tests.support.migrations import migration_drift


async def test_migration_matches_the_models(settings: NotificationsSettings) -> None:
    assert settings.database_url
    drift = await migration_drift(
        settings.database_url, service="notifications", migrations=MIGRATIONS, tables=TABLES
    )
    assert drift == []
