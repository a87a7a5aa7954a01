"""Notifications' use cases: record what a shopper is told, list it, mark it read.

Recording never sends: it writes the notification and its pending delivery in the event's
transaction; the delivery worker (deliveries.py) sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.events import UserRegistered
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import dialect_insert, upsert, utcnow
from shopfleet.kit.errors import NotFound, field_problem
from shopfleet.notifications.messages import Draft
from shopfleet.notifications.models import (
    DeliveryPublic,
    DeliveryStatus,
    Notification,
    NotificationDelivery,
    NotificationPublic,
    NotificationsPage,
    NotificationUser,
    new_id,
)

N = Notification.__table__  # type: ignore[attr-defined]
D = NotificationDelivery.__table__  # type: ignore[attr-defined]
U = NotificationUser.__table__  # type: ignore[attr-defined]


async def remember_user(session: AsyncSession, shop: str, user: UserRegistered) -> None:
    """Keep (or update) where to reach a user."""
    values = dict(
        shop=shop,
        user_id=user.user_id,
        email=user.email,
        display_name=user.display_name,
        registered_at=user.registered_at,
    )
    stmt = upsert(
        session,
        U,
        values,
        keys=[U.c.shop, U.c.user_id],
        update=["email", "display_name", "registered_at"],
    )
    await session.execute(stmt)


async def record(
    session: AsyncSession, shop: str, event_id: str, draft: Draft, *, due: datetime
) -> str | None:
    """Record `draft` for its user with a pending delivery due at `due`; the new id, or
    None when this event, or another one telling the same fact, was recorded before."""
    notification_id = new_id()
    values = dict(
        id=notification_id,
        shop=shop,
        user_id=draft.user_id,
        event_id=event_id,
        dedupe_key=draft.dedupe_key,
        kind=draft.kind.value,
        title=draft.title,
        message=draft.message,
        order_id=draft.order_id,
        read_at=None,
        created_at=utcnow(),
    )
    inserted = await session.execute(
        dialect_insert(session, N).values(values).on_conflict_do_nothing()
    )
    if not inserted.rowcount:  # type: ignore[attr-defined]
        return None
    delivery = dict(
        notification_id=notification_id,
        shop=shop,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=due,
        created_at=utcnow(),
    )
    await session.execute(sa.insert(D).values(delivery))
    return notification_id


# ----------------------------------------------------------------------------- reads

_COLUMNS = (
    N.c.id,
    N.c.user_id,
    N.c.kind,
    N.c.title,
    N.c.message,
    N.c.order_id,
    N.c.read_at,
    N.c.created_at,
    D.c.status,
    D.c.attempts,
    D.c.delivered_at,
    D.c.next_attempt_at,
    D.c.last_error,
)


def _public(row: Any, *, admin: bool) -> NotificationPublic:
    delivery = None
    if row.status is not None:
        delivery = DeliveryPublic(
            status=row.status,
            attempts=row.attempts,
            delivered_at=row.delivered_at,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            last_error=row.last_error if admin else None,
        )
    return NotificationPublic(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        title=row.title,
        message=row.message,
        order_id=row.order_id,
        read=row.read_at is not None,
        read_at=row.read_at,
        created_at=row.created_at,
        delivery=delivery,
    )


def _select() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).select_from(N.outerjoin(D, D.c.notification_id == N.c.id))


def _after(cursor: str) -> sa.ColumnElement[bool]:
    try:
        created, last_id = unpack_cursor(cursor)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or not isinstance(last_id, str):
            raise ValueError("bad cursor")
    except (ValueError, TypeError):
        raise field_problem(
            422, "query.cursor", "not a cursor of this listing; start again without it"
        ) from None
    return sa.or_(
        N.c.created_at < created_at, sa.and_(N.c.created_at == created_at, N.c.id < last_id)
    )


async def list_for(
    session: AsyncSession,
    shop: str,
    user_id: str,
    *,
    unread: bool | None,
    limit: int,
    cursor: str | None,
    admin: bool = False,
) -> NotificationsPage:
    """`user_id`'s notifications, newest first; `unread` True/False filters."""
    owned = sa.and_(N.c.shop == shop, N.c.user_id == user_id)
    query = _select().where(owned)
    if unread is not None:
        query = query.where(N.c.read_at.is_(None) if unread else N.c.read_at.is_not(None))
    if cursor:
        query = query.where(_after(cursor))
    query = query.order_by(N.c.created_at.desc(), N.c.id.desc()).limit(limit + 1)
    rows = (await session.execute(query)).all()
    count = sa.select(sa.func.count()).select_from(N).where(owned, N.c.read_at.is_(None))
    unread_count = (await session.execute(count)).scalar_one()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = pack_cursor([last.created_at.isoformat(), last.id])
    return NotificationsPage(
        items=[_public(row, admin=admin) for row in rows],
        unread_count=unread_count,
        next_cursor=next_cursor,
    )


async def mark_read(
    session: AsyncSession, shop: str, user_id: str, notification_id: str
) -> NotificationPublic:
    """Mark one of `user_id`'s notifications read (again: no change); 404 if not theirs."""
    mine = sa.and_(N.c.shop == shop, N.c.user_id == user_id, N.c.id == notification_id)
    async with session.begin():
        await session.execute(
            sa.update(N).where(mine, N.c.read_at.is_(None)).values(read_at=utcnow())
        )
        row = (await session.execute(_select().where(mine))).first()
    if row is None:
        raise NotFound(f"No notification '{notification_id}' of yours in shop '{shop}'.")
    return _public(row, admin=False)
