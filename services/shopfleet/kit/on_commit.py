"""Work to run once a session's transaction has committed, and never if it rolls back.

`after_commit(session, callback)` from inside the transaction: e.g. hand what it wrote to
a worker in this process, which must not see it before it is durable, nor at all when the
transaction fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = structlog.get_logger("shopfleet.on_commit")

_CALLBACKS = "shopfleet.on_commit.callbacks"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` (synchronous and quick) right after the session's current
    transaction commits; drop it if that transaction rolls back. Not inside a savepoint
    (its rollback could not take the callback back)."""
    sync = session.sync_session
    if sync.in_nested_transaction():
        raise RuntimeError("after_commit inside a savepoint")
    callbacks: list[Callable[[], None]] | None = sync.info.get(_CALLBACKS)
    if callbacks is None:
        callbacks = sync.info[_CALLBACKS] = []
        sa.event.listen(sync, "after_commit", _run)
        sa.event.listen(sync, "after_soft_rollback", _drop)
    callbacks.append(callback)


def _run(sync: Session) -> None:
    if sync.in_nested_transaction():
        return  # a savepoint released: the transaction is not durable yet
    callbacks, sync.info[_CALLBACKS] = sync.info.get(_CALLBACKS, []), []
    for callback in callbacks:
        try:
            callback()
        except Exception:  # committed already: the caller must not take it for a failure
            log.exception("on_commit.callback_failed")


def _drop(sync: Session, previous: Any) -> None:
    if previous.parent is None:  # the outermost transaction rolled back
        sync.info[_CALLBACKS] = []
