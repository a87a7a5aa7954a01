"""The delivery worker: sends pending notifications, retries failures with back-off.

Each round claims due deliveries (`pending`, `next_attempt_at` reached) and leases them by
moving `next_attempt_at` `lease_s` ahead, in one short transaction (PostgreSQL: `FOR UPDATE
SKIP LOCKED`, so replicas claim disjoint rows; SQLite: `BEGIN IMMEDIATE` serializes
rounds). It sends outside any transaction, then records each outcome:

- sent: `delivered`, `delivered_at`;
- failed for now: `attempts` + 1, `last_error`, next attempt after `backoff_s * 2**(n-1)`
  (n: failed attempts so far, at most `max_backoff_s`);
- failed for good (a permanent error, or `max_attempts` reached): `failed`, given up.

A worker that dies mid-send leaves its claims to others once the lease runs out (the
notification may then go twice: at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from shopfleet.kit.db import Database
from shopfleet.kit.outbox import Inbox
from shopfleet.notifications.models import DeliveryStatus
from shopfleet.notifications.senders import Outgoing, Sender, SendError
from shopfleet.notifications.service import D, N, U

log = structlog.get_logger("shopfleet.notifications.deliveries")

MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0

    def delay_s(self, failed_attempts: int) -> float:
        """The wait after the `failed_attempts`-th failure (1: `backoff_s`)."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(failed_attempts - 1, 0))


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        sender: Sender,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 20,
        concurrency: int = 4,
        lease_s: float = 120.0,
        poll_interval_s: float = 1.0,
        inbox_retention: timedelta = timedelta(days=30),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.sender = db, sender
        self.policy = policy or RetryPolicy()
        self.batch_size, self.lease_s, self.poll_interval_s = batch_size, lease_s, poll_interval_s
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The worker also forgets old inbox rows (notifications has no outbox relay to).
        self.inbox_retention = inbox_retention
        self._next_purge = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def notify(self) -> None:
        """New notifications were committed: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="notifications-delivery")

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            log.warning("notifications.worker.stop_timeout", timeout_s=timeout_s)
        finally:
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("notifications.worker.round_failed")
                handled = 0
            await self._maybe_purge()
            if handled < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval_s):
                        await self._wake.wait()

    async def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + 3600
        try:
            await Inbox.purge(self.db, self.inbox_retention)
        except Exception:
            log.exception("notifications.inbox_purge_failed")

    async def run_once(self) -> int:
        """One round: claim what is due, send it, record the outcomes; how many it tried."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[Any]:
        now = self.now()
        due = (
            sa.select(D.c.notification_id)
            .where(D.c.status == DeliveryStatus.PENDING.value, D.c.next_attempt_at <= now)
            .order_by(D.c.next_attempt_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.db.session() as session, session.begin():
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            lease = now + timedelta(seconds=self.lease_s)
            await session.execute(
                sa.update(D).where(D.c.notification_id.in_(ids)).values(next_attempt_at=lease)
            )
            columns = (N.c.id, N.c.shop, N.c.user_id, N.c.title, N.c.message, D.c.attempts)
            query = (
                sa.select(*columns, U.c.email, U.c.display_name)
                .select_from(
                    N.join(D, D.c.notification_id == N.c.id).outerjoin(
                        U, sa.and_(U.c.shop == N.c.shop, U.c.user_id == N.c.user_id)
                    )
                )
                .where(N.c.id.in_(ids))
            )
            return list((await session.execute(query)).all())

    async def _deliver(self, row: Any) -> None:
        message = Outgoing(
            notification_id=row.id,
            shop=row.shop,
            user_id=row.user_id,
            email=row.email,
            display_name=row.display_name,
            subject=row.title,
            body=row.message,
        )
        error: SendError | None = None
        async with self._limit:
            try:
                await self.sender.send(message)
            except SendError as exc:
                error = exc
            except Exception as exc:  # a sender bug must not stop the worker: retry later
                log.exception("notifications.sender_crashed", notification_id=row.id)
                error = SendError(f"{type(exc).__name__}: {exc}")
        await self._record(row, error)

    async def _record(self, row: Any, error: SendError | None) -> None:
        now = self.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = dict(attempts=attempts, last_attempt_at=now)
        ctx = dict(notification_id=row.id, shop=row.shop, attempts=attempts)
        if error is None:
            values |= dict(
                status=DeliveryStatus.DELIVERED.value, delivered_at=now, next_attempt_at=None
            )
            log.info("notification.delivered", sender=self.sender.name, **ctx)
        elif error.permanent or attempts >= self.policy.max_attempts:
            values |= dict(
                status=DeliveryStatus.FAILED.value,
                next_attempt_at=None,
                last_error=str(error)[:MAX_ERROR],
            )
            log.warning("notification.given_up", error=str(error), **ctx)
        else:
            delay = timedelta(seconds=self.policy.delay_s(attempts))
            values |= dict(next_attempt_at=now + delay, last_error=str(error)[:MAX_ERROR])
            retry_in_s = delay.total_seconds()
            log.info("notification.retry", error=str(error), retry_in_s=retry_in_s, **ctx)
        mine = sa.and_(
            D.c.notification_id == row.id,
            D.c.status == DeliveryStatus.PENDING.value,
            D.c.attempts == row.attempts,  # not recorded meanwhile by a worker whose lease ran out
        )
        async with self.db.session() as session, session.begin():
            await session.execute(sa.update(D).where(mine).values(values))
