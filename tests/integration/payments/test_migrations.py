"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shopfleet.payments.app import MIGRATIONS
from shopfleet.payments.models import Payment, Refund, StripeEvent
from tests.support.migrations import migration_drift


async def test_migration_matches_the_models(
    database_url_factory: Callable[[str], Awaitable[str]],
) -> None:
    drift = await migration_drift(
        await database_url_factory("payments"),
        service="payments",
        migrations=MIGRATIONS,
        tables=[Payment, Refund, StripeEvent],
    )
    assert drift == []
