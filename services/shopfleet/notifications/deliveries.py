"""The delivery worker: sends pending notifications, retries failures with back-off.

A notification an event handler inserts while the worker runs is inserted already leased
to it (`next_attempt_at` `lease_s` ahead: `lease_for_new`) and handed to it once the
event's transaction committed (`hand`): it is sent without a claim transaction. At most a
batch is handed at a time; beyond that, new ones are due at once and a round is woken.

The worker's rounds take the rest: retries whose back-off passed, leases that ran out (a
worker that died before or while sending), and notifications inserted while no worker
ran. A round first looks whether anything is due, without a write transaction; only then
it claims due deliveries and leases them, in one short transaction, so replicas claim
disjoint rows (`service.claim_due`).

Sending happens outside any transaction; the outcomes (`domain.retries` says what each
means for its delivery) are recorded together: those that come in while one write runs go
in the next (`kit.batched_writes`).

A worker that dies mid-send leaves its leases to others once they run out (the
notification may then go twice: at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from shopfleet.kit.batched_writes import BatchedWrites
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import Inbox
from shopfleet.notifications import service
from shopfleet.notifications.domain.retries import (
    Attempted,
    DeliveryStatus,
    Failure,
    RetryPolicy,
    after_attempt,
)
from shopfleet.notifications.senders import Outgoing, Sender, SendError
from shopfleet.notifications.store import Claimed

log = structlog.get_logger("shopfleet.notifications.deliveries")


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
        self._handed: set[asyncio.Task[None]] = set()
        self._outcomes = BatchedWrites[tuple[Claimed, Attempted]](
            lambda batch: service.record_attempts(self.db, batch)
        )
        # The worker also forgets old inbox rows (notifications has no outbox relay to).
        self.inbox_retention = inbox_retention
        self._next_purge = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._stop.is_set()

    def lease_for_new(self) -> datetime | None:
        """Until when a notification inserted now is leased to this worker, which sends it
        once it is committed (`hand`); None when the worker is not running, or holds a
        batch's worth of handed notifications already (a backlog must not outlast its
        leases): a round claims it then (`notify`)."""
        if not self.running or len(self._handed) >= self.batch_size:
            return None
        return self.now() + timedelta(seconds=self.lease_s)

    def notify(self) -> None:
        """A notification that is due was committed: look now instead of at the next poll."""
        self._wake.set()

    def hand(self, claimed: Claimed) -> None:
        """Send `claimed`, committed leased to this worker (`lease_for_new`), without a
        claim round. Stopping, it is left to its lease running out."""
        if not self.running:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(claimed))
        self._handed.add(task)
        task.add_done_callback(self._handed_done)

    def _handed_done(self, task: asyncio.Task[None]) -> None:
        self._handed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Its outcome was not recorded: the lease runs out and a round sends it again.
            log.error("notifications.handed_failed", exc_info=task.exception())

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
            await asyncio.wait_for(self._run_and_handed(), timeout_s)
        except TimeoutError:
            log.warning("notifications.worker.stop_timeout", timeout_s=timeout_s)
            for task in list(self._handed):  # their leases run out; rounds send them then
                task.cancel()
        finally:
            self._task = None

    async def _run_and_handed(self) -> None:
        assert self._task is not None
        await self._task
        if self._handed:
            await asyncio.wait(list(self._handed))

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
        if not await service.any_due(self.db, now=self.now()):
            return 0
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        return await service.claim_due(
            self.db, now=self.now(), limit=self.batch_size, lease_s=self.lease_s
        )

    async def _deliver(self, claimed: Claimed) -> None:
        message = Outgoing(
            notification_id=claimed.id,
            shop=claimed.shop,
            user_id=claimed.user_id,
            email=claimed.email,
            display_name=claimed.display_name,
            subject=claimed.title,
            body=claimed.message,
        )
        failure: Failure | None = None
        async with self._limit:
            try:
                await self.sender.send(message)
            except SendError as exc:
                failure = Failure(str(exc), permanent=exc.permanent)
            except Exception as exc:  # a sender bug must not stop the worker: retry later
                log.exception("notifications.sender_crashed", notification_id=claimed.id)
                failure = Failure(f"{type(exc).__name__}: {exc}")
        attempted = after_attempt(claimed.attempts, failure, self.policy, now=self.now())
        await self._outcomes.add((claimed, attempted))
        ctx = dict(notification_id=claimed.id, shop=claimed.shop, attempts=attempted.attempts)
        if failure is None:
            log.info("notification.delivered", sender=self.sender.name, **ctx)
        elif attempted.status is DeliveryStatus.FAILED:
            log.warning("notification.given_up", error=failure.error, **ctx)
        else:
            retry_in_s = attempted.retry_in_s
            log.info("notification.retry", error=failure.error, retry_in_s=retry_in_s, **ctx)
