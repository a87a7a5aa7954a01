"""Identity's feed of changed sessions: what every token verifier's `SessionView` reads.

A user is in the feed while tokens issued before its last change may still be unexpired
(`retention_s`: the access-token lifetime plus leeway); older changes concern no token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.domain.sessions import feed_floor, feed_retention_s
from shopfleet.identity.store import IdentityStore
from shopfleet.kit.contracts.sessions import SessionChanges
from shopfleet.kit.db import Database
from shopfleet.kit.sessions import SessionFeed


async def session_changes(
    session: AsyncSession, *, since: float, now: datetime, access_token_ttl_s: int
) -> SessionChanges:
    """The users whose session version or roles changed after `since` (unix seconds)."""
    retention_s = feed_retention_s(access_token_ttl_s)
    floor = feed_floor(since, now.timestamp(), retention_s)
    changes = await IdentityStore(session).session_changes(datetime.fromtimestamp(floor, UTC))
    return SessionChanges(as_of=now.timestamp(), retention_s=retention_s, changes=changes)


def local_session_feed(
    db: Database, *, access_token_ttl_s: int, clock: Callable[[], float]
) -> SessionFeed:
    """Identity's own view reads its database directly (not itself through invocation)."""

    async def fetch(since: float) -> SessionChanges:
        now = datetime.fromtimestamp(clock(), UTC)
        async with db.reader() as reader:
            return await session_changes(
                reader, since=since, now=now, access_token_ttl_s=access_token_ttl_s
            )

    return fetch
