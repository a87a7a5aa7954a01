"""The Stripe events a shop's webhook delivered already (Stripe delivers at least once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.db import dialect_insert
from shopfleet.payments.store.rows import changed, stripe_events_table


async def record_stripe_event(
    session: AsyncSession, shop: str, event_id: str, kind: str, now: datetime
) -> bool:
    """Remember a Stripe event id; False if it was seen already."""
    statement = dialect_insert(session, stripe_events_table).values(
        shop=shop, event_id=event_id, type=kind[:100], received_at=now
    )
    return await changed(session, statement.on_conflict_do_nothing())
