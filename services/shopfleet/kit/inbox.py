"""The inbox: the event ids each consumer has processed, and how a delivery is answered.

A consumer records an event's id in the same transaction as the event's effect
(`Inbox.once`), so a redelivered event (pub/sub is at-least-once) changes nothing.
Services subscribe through kit/subscriptions.py's router, which runs each handler so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Delivery, EventHandler
from shopfleet.kit.db import Database, UTCDateTime, dialect_insert, rowcount

log = structlog.get_logger("shopfleet.outbox")


def inbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    ]


INBOX = sa.Table("inbox", sa.MetaData(), *inbox_columns())


async def delete_before(db: Database, column: sa.Column[Any], older_than: timedelta) -> int:
    """Delete the rows of `column`'s table whose `column` is more than `older_than` ago."""
    async with db.session() as session, session.begin():
        deleted = sa.delete(column.table).where(column < datetime.now(UTC) - older_than)
        return rowcount(await session.execute(deleted))


class PermanentEventError(Exception):
    """Raised by a handler for an event that can never be processed: it is dropped (dead-letter)."""


class Inbox:
    """The event ids one consumer has processed, written in the same transaction as the effect."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer

    async def once(
        self, db: Database, event_id: str, effect: Callable[[AsyncSession], Awaitable[None]]
    ) -> bool:
        """Run `effect` in one transaction with the claim of `event_id`; False, without
        running it, when the event was processed before."""
        async with db.session() as session, session.begin():
            if not await self.claim(session, event_id):
                return False
            await effect(session)
        return True

    async def claim(self, session: AsyncSession, event_id: str) -> bool:
        """Record the event in the caller's transaction; False if it was processed already.

        On PostgreSQL a concurrent claim of the same id waits for ours to commit or roll back.
        """
        stmt = dialect_insert(session, INBOX).values(
            consumer=self.consumer, event_id=event_id, processed_at=datetime.now(UTC)
        )
        return bool(rowcount(await session.execute(stmt.on_conflict_do_nothing())))

    @staticmethod
    async def purge(db: Database, older_than: timedelta) -> int:
        """Forget ids processed more than `older_than` ago (longer than any redelivery)."""
        return await delete_before(db, INBOX.c.processed_at, older_than)


def idempotent_handler(
    db: Database, consumer: str, fn: Callable[[AsyncSession, CloudEvent], Awaitable[None]]
) -> EventHandler:
    """Wrap `fn(session, event)` so each event id takes effect once for `consumer`.

    The inbox row and `fn`'s writes commit together: an already seen event answers SUCCESS
    without calling `fn`; an exception rolls both back and answers RETRY;
    `PermanentEventError` answers DROP. (Services subscribe through kit/subscriptions.py's
    router, which validates the payload first; this is its raw-event form.)
    """
    inbox = Inbox(consumer)

    async def handle(ev: CloudEvent) -> Delivery:
        work = inbox.once(db, ev.id, lambda session: fn(session, ev))
        return await answer(work, delivery_context(consumer, ev))

    return handle


def delivery_context(consumer: str, event: CloudEvent) -> dict[str, str]:
    """What every log line about one delivery names."""
    return {"consumer": consumer, "event_id": event.id, "topic": event.topic, "shop": event.shop}


async def answer(
    work: Awaitable[bool],
    context: Mapping[str, str],
    *,
    unprocessable: tuple[type[Exception], ...] = (),
) -> Delivery:
    """Await one delivery's `work` (False: the inbox had the event) and answer pub/sub:
    SUCCESS when done or done before; DROP on `PermanentEventError` or an `unprocessable`
    exception (it can never be processed); RETRY on any other (its transaction rolled back).
    """
    never_processable: tuple[type[Exception], ...] = (PermanentEventError, *unprocessable)
    try:
        if not await work:
            log.debug("inbox.duplicate", **context)
    except never_processable as exc:
        log.warning("inbox.dropped", error=str(exc), **context)
        return Delivery.DROP
    except Exception:
        log.exception("inbox.handler_failed", **context)
        return Delivery.RETRY
    return Delivery.SUCCESS
