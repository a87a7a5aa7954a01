"""Notifications' use cases: tell a shopper about an event, remember where to reach them,
list what they were told, mark it read; and for the delivery worker, claim what is due and
record how sending it went.

Telling never sends: it writes the notification and its pending delivery in the event's
transaction; the delivery worker (deliveries.py) sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.events import UserRegistered
from shopfleet.kit.contracts.topics import EventPayload
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import Database, utcnow
from shopfleet.notifications import store
from shopfleet.notifications.domain import listing, messages, retries
from shopfleet.notifications.domain.messages import Kind
from shopfleet.notifications.domain.retries import DeliveryStatus
from shopfleet.notifications.models import (
    DeliveryPublic,
    NotificationPublic,
    NotificationsPage,
    new_id,
)
from shopfleet.notifications.store import Claimed, NotificationView


async def remember_user(session: AsyncSession, shop: str, user: UserRegistered) -> None:
    """Keep (or update) where to reach a user."""
    await store.remember_user(session, shop, user)


async def tell(
    session: AsyncSession, shop: str, event_id: str, payload: EventPayload, *, due: datetime
) -> Claimed | None:
    """Record what `payload` tells its shopper, with a pending delivery due at `due` (a
    worker that will send it at once leases it so: `due` is its lease's end); the new
    notification as the worker sends it, or None when the event tells nothing, or this
    event or another telling the same fact was recorded before."""
    draft = messages.compose(payload)
    if draft is None:
        return None  # nothing the shopper needs to hear
    notification_id = new_id()
    stored = await store.insert_notification(
        session, shop, event_id, draft, notification_id=notification_id, now=utcnow(), due=due
    )
    if not stored:
        return None
    email, display_name = await store.recipient(session, shop, draft.user_id)
    return Claimed(
        id=notification_id,
        shop=shop,
        user_id=draft.user_id,
        title=draft.title,
        message=draft.message,
        attempts=0,
        email=email,
        display_name=display_name,
    )


# ----------------------------------------------------------------------------- reads


def _public(view: NotificationView, *, admin: bool) -> NotificationPublic:
    delivery = None
    if view.status is not None and view.attempts is not None:
        pending = view.status == DeliveryStatus.PENDING
        delivery = DeliveryPublic(
            status=DeliveryStatus(view.status),
            attempts=view.attempts,
            delivered_at=view.delivered_at,
            next_attempt_at=view.next_attempt_at if pending else None,
            last_error=view.last_error if admin else None,  # may name servers, addresses
        )
    return NotificationPublic(
        id=view.id,
        user_id=view.user_id,
        kind=Kind(view.kind),
        title=view.title,
        message=view.message,
        order_id=view.order_id,
        read=view.read_at is not None,
        read_at=view.read_at,
        created_at=view.created_at,
        delivery=delivery,
    )


async def list_for(
    session: AsyncSession,
    shop: str,
    reader_id: str,
    *,
    is_admin: bool,
    user: str | None,
    unread: bool | None,
    limit: int,
    cursor: str | None,
) -> NotificationsPage:
    """The reader's notifications (an admin's: `user`'s, if given), newest first;
    `unread` True/False filters."""
    owner = listing.whose(reader_id, is_admin=is_admin, asked=user)
    after = PageEnd.from_cursor(cursor) if cursor else None
    views, more, unread_count = await store.notifications_page(
        session, shop, owner, unread=unread, limit=limit, after=after
    )
    next_cursor = None
    if more:
        next_cursor = PageEnd(views[-1].created_at, views[-1].id).cursor()
    return NotificationsPage(
        items=[_public(view, admin=is_admin) for view in views],
        unread_count=unread_count,
        next_cursor=next_cursor,
    )


async def mark_read(
    session: AsyncSession, shop: str, user_id: str, notification_id: str
) -> NotificationPublic:
    """Mark one of `user_id`'s notifications read (again: no change)."""
    async with session.begin():
        view = await store.mark_read(session, shop, user_id, notification_id, now=utcnow())
    if view is None:
        raise listing.NotificationNotFound(shop, notification_id)
    return _public(view, admin=False)


# ----------------------------------------------------------------------------- deliveries


async def any_due(db: Database, *, now: datetime) -> bool:
    """Whether a delivery is due, read without a write transaction (a replica's idle
    round then costs no write lock)."""
    async with db.reader() as session:
        return await store.any_due(session, now=now)


async def claim_due(db: Database, *, now: datetime, limit: int, lease_s: float) -> list[Claimed]:
    """Lease up to `limit` due deliveries for `lease_s`, in one short transaction."""
    lease_until = now + timedelta(seconds=lease_s)
    async with db.session() as session, session.begin():
        return await store.claim_due(session, now=now, limit=limit, lease_until=lease_until)


async def record_attempts(db: Database, attempts: list[tuple[Claimed, retries.Attempted]]) -> None:
    """Record how sending each claimed delivery went, all in one transaction."""
    async with db.session() as session, session.begin():
        for claimed, attempted in attempts:
            await store.record_attempt(session, claimed, attempted)
