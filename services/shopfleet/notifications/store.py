"""All of notifications' SQL: the users projection, notifications with their deliveries,
the list's pages, and the delivery worker's claims and outcomes. Rows come back as typed
records. The caller owns the transaction (the session).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.events import UserRegistered
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import dialect_insert, rowcount, upsert
from shopfleet.notifications.domain.messages import Draft
from shopfleet.notifications.domain.retries import Attempted, DeliveryStatus
from shopfleet.notifications.models import NotificationsModel

notifications_table = NotificationsModel.metadata.tables["notifications"]
deliveries_table = NotificationsModel.metadata.tables["notification_deliveries"]
users_table = NotificationsModel.metadata.tables["notification_users"]
_n, _d, _u = notifications_table.c, deliveries_table.c, users_table.c


@dataclass(frozen=True, slots=True)
class NotificationView:
    """A notification with how its delivery went (`status` None: it has no delivery row)."""

    id: str
    user_id: str
    kind: str
    title: str
    message: str
    order_id: str | None
    read_at: datetime | None
    created_at: datetime
    status: str | None
    attempts: int | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due delivery a worker leased, with where to send it (`email` None: not known yet)."""

    id: str
    shop: str
    user_id: str
    title: str
    message: str
    attempts: int
    email: str | None
    display_name: str | None


_VIEW_COLUMNS = [
    *(_n[name] for name in ("id", "user_id", "kind", "title", "message", "order_id")),
    *(_n[name] for name in ("read_at", "created_at")),
    *(_d[name] for name in ("status", "attempts", "delivered_at", "next_attempt_at")),
    _d.last_error,
]


def _views() -> sa.Select[Any]:
    joined = notifications_table.outerjoin(deliveries_table, _d.notification_id == _n.id)
    return sa.select(*_VIEW_COLUMNS).select_from(joined)


def _view(row: sa.Row[Any]) -> NotificationView:
    return NotificationView(**row._mapping)


async def remember_user(session: AsyncSession, shop: str, user: UserRegistered) -> None:
    """Keep (or update) where to reach a user."""
    values = dict(
        shop=shop,
        user_id=user.user_id,
        email=user.email,
        display_name=user.display_name,
        registered_at=user.registered_at,
    )
    update = ["email", "display_name", "registered_at"]
    await session.execute(
        upsert(session, users_table, values, keys=[_u.shop, _u.user_id], update=update)
    )


async def insert_notification(
    session: AsyncSession,
    shop: str,
    event_id: str,
    draft: Draft,
    *,
    notification_id: str,
    now: datetime,
    due: datetime,
) -> bool:
    """Insert `draft` with a pending delivery due at `due`; False (nothing written) when
    this event, or another telling the same fact (`dedupe_key`), was recorded before."""
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
        created_at=now,
    )
    insert = dialect_insert(session, notifications_table).values(values)
    if not rowcount(await session.execute(insert.on_conflict_do_nothing())):
        return False
    delivery = dict(
        notification_id=notification_id,
        shop=shop,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=due,
        created_at=now,
    )
    await session.execute(sa.insert(deliveries_table).values(delivery))
    return True


async def notifications_page(
    session: AsyncSession,
    shop: str,
    user_id: str,
    *,
    unread: bool | None,
    limit: int,
    after: PageEnd | None,
) -> tuple[list[NotificationView], bool, int]:
    """Up to `limit` of `user_id`'s notifications, newest first, after `after`; whether
    more follow; and how many of all theirs are unread."""
    owned = sa.and_(_n.shop == shop, _n.user_id == user_id)
    query = _views().where(owned)
    if unread is not None:
        query = query.where(_n.read_at.is_(None) if unread else _n.read_at.is_not(None))
    if after is not None:
        at, last_id = after.at, after.id
        query = query.where(
            sa.or_(_n.created_at < at, sa.and_(_n.created_at == at, _n.id < last_id))
        )
    query = query.order_by(_n.created_at.desc(), _n.id.desc()).limit(limit + 1)
    rows = (await session.execute(query)).all()
    count = (
        sa.select(sa.func.count())
        .select_from(notifications_table)
        .where(owned, _n.read_at.is_(None))
    )
    unread_count = int((await session.execute(count)).scalar_one())
    return [_view(row) for row in rows[:limit]], len(rows) > limit, unread_count


async def mark_read(
    session: AsyncSession, shop: str, user_id: str, notification_id: str, *, now: datetime
) -> NotificationView | None:
    """Mark one of `user_id`'s notifications read (if unread); it as it is now, or None if
    it is not theirs."""
    mine = sa.and_(_n.shop == shop, _n.user_id == user_id, _n.id == notification_id)
    await session.execute(
        sa.update(notifications_table).where(mine, _n.read_at.is_(None)).values(read_at=now)
    )
    row = (await session.execute(_views().where(mine))).first()
    return None if row is None else _view(row)


# ----------------------------------------------------------------------------- deliveries


async def recipient(
    session: AsyncSession, shop: str, user_id: str
) -> tuple[str | None, str | None]:
    """Where to reach a user: their e-mail address and name (None, None: not known yet)."""
    query = sa.select(_u.email, _u.display_name).where(_u.shop == shop, _u.user_id == user_id)
    row = (await session.execute(query)).first()
    return (None, None) if row is None else (row.email, row.display_name)


async def any_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether a delivery is due (a look that writes nothing, before a claim that would)."""
    due = sa.select(_d.notification_id).where(
        _d.status == DeliveryStatus.PENDING.value, _d.next_attempt_at <= now
    )
    return (await session.execute(due.limit(1))).first() is not None


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime
) -> list[Claimed]:
    """Lease up to `limit` due deliveries until `lease_until` (PostgreSQL: `FOR UPDATE SKIP
    LOCKED`, so replicas claim disjoint rows; SQLite: `BEGIN IMMEDIATE` serializes)."""
    due = (
        sa.select(_d.notification_id)
        .where(_d.status == DeliveryStatus.PENDING.value, _d.next_attempt_at <= now)
        .order_by(_d.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(due)).scalars())
    if not ids:
        return []
    await session.execute(
        sa.update(deliveries_table)
        .where(_d.notification_id.in_(ids))
        .values(next_attempt_at=lease_until)
    )
    recipient = sa.and_(_u.shop == _n.shop, _u.user_id == _n.user_id)
    joined = notifications_table.join(deliveries_table, _d.notification_id == _n.id)
    query = (
        sa.select(_n.id, _n.shop, _n.user_id, _n.title, _n.message, _d.attempts)
        .add_columns(_u.email, _u.display_name)
        .select_from(joined.outerjoin(users_table, recipient))
        .where(_n.id.in_(ids))
    )
    return [Claimed(**row._mapping) for row in (await session.execute(query)).all()]


async def record_attempt(session: AsyncSession, claimed: Claimed, attempted: Attempted) -> bool:
    """Write how an attempt went, unless the delivery moved since it was claimed (another
    worker recorded it after this one's lease ran out); True if written."""
    values = {k: v for k, v in asdict(attempted).items() if v is not None or k != "last_error"}
    values["status"] = attempted.status.value
    mine = sa.and_(
        _d.notification_id == claimed.id,
        _d.status == DeliveryStatus.PENDING.value,
        _d.attempts == claimed.attempts,
    )
    result = await session.execute(sa.update(deliveries_table).where(mine).values(values))
    return rowcount(result) > 0
