"""Identity's feed of changed sessions: what every token verifier's `SessionView` reads.

A user is in the feed while tokens issued before its last change may still be unexpired
(`retention_s`: the access-token lifetime plus leeway); older changes concern no token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.identity.models import User
from shopfleet.identity.tokens import JWKS_LEEWAY_S
from shopfleet.kit.contracts.sessions import SessionChange, SessionChanges
from shopfleet.kit.db import Database
from shopfleet.kit.sessions import SessionFeed


async def session_changes(
    session: AsyncSession, *, since: float, now: datetime, access_token_ttl_s: int
) -> SessionChanges:
    """The users whose session version or roles changed after `since` (unix seconds)."""
    retention_s = access_token_ttl_s + JWKS_LEEWAY_S
    floor = max(since, now.timestamp() - retention_s)
    rows = await session.execute(
        sa.select(
            col(User.shop),
            col(User.id),
            col(User.session_version),
            col(User.roles),
            col(User.sessions_changed_at),
        )
        .where(col(User.sessions_changed_at) > datetime.fromtimestamp(floor, UTC))
        .order_by(col(User.sessions_changed_at))
    )
    return SessionChanges(
        as_of=now.timestamp(),
        retention_s=retention_s,
        changes=[
            SessionChange(
                shop=shop,
                user_id=user_id,
                version=version,
                roles=roles,
                changed_at=changed_at.timestamp(),
            )
            for shop, user_id, version, roles, changed_at in rows
            if changed_at is not None  # the WHERE excludes NULLs; this tells the type so
        ],
    )


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
