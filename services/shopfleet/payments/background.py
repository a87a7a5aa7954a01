"""Work a use case starts and does not wait for (a refund, a cancellation at Stripe): it
runs after the transaction that asked for it commits, and `drain` waits for it on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession


def after_commit(session: AsyncSession, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction commits (not if it rolls back)."""
    sa.event.listen(session.sync_session, "after_commit", lambda _s: fn(), once=True)


class Background:
    """Tasks of this process; a failure is logged unless it is of a `quiet` kind (an
    answer that only the caller of a request would have needed)."""

    def __init__(
        self, log: structlog.stdlib.BoundLogger, *, quiet: tuple[type[Exception], ...]
    ) -> None:
        self.log, self.quiet = log, quiet
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, self.quiet):
            self.log.error("payments background task failed", error=repr(error))

    async def drain(self) -> None:
        """Wait for the tasks started so far, and for those they start."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
