"""Sessions that end, or lose roles, before their access tokens expire.

Identity keeps per user a session version, bumped by a password change, a logout and a
revoked refresh family, and the current roles. An access token carries the version it
was issued at (claim `sv`). Every `TokenVerifier` holds a `SessionView`: the users whose
sessions changed within the last access-token lifetime (older changes concern expired
tokens only), checked in memory on every request — a token below its user's version is
refused (401), a token of a user whose roles changed acts with the current roles.

The view is fed by identity's feed (`kit/contracts/sessions.py`):
- before the first check is answered (nothing is served without a view);
- in the background, at most every `poll_s` while requests come in (none while idle);
- awaited, by identity right after it changed a session, and by a service before it
  trusts an Admin token (`TokenVerifier.verify`), so a demoted Admin is refused on its
  very next request anywhere.
In the embedded platform every part shares one verifier, whose view identity updates
before it answers: the gateway and every service see a change at once (`authoritative`:
no fetch for Admins either). With one process per service (a cluster), other processes
see a logout or a password change of a non-Admin within `poll_s`: a per-request read of
identity's state would cost more than the whole gateway hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable

import structlog

from shopfleet.kit.auth import Principal, Unauthenticated
from shopfleet.kit.contracts.sessions import SessionChange, SessionChanges
from shopfleet.kit.errors import Problem

log = structlog.get_logger("shopfleet.sessions")

SessionFeed = Callable[[float], Awaitable[SessionChanges]]
# A change stamped just before a read but committed just after it is fetched by the next.
OVERLAP_S = 10.0


class SessionView:
    def __init__(
        self,
        fetch: SessionFeed,
        *,
        poll_s: float = 1.0,
        authoritative: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        # True when the only identity there is updates this very view before answering a
        # change (the embedded platform): it is never behind, Admins need no fetch.
        self.authoritative = authoritative
        self._poll_s = poll_s
        self._clock = clock
        self._changes: dict[tuple[str, str], SessionChange] = {}
        self._since = 0.0
        self._synced_at = float("-inf")
        self._lock = asyncio.Lock()
        self._asked = 0  # refreshes asked for ...
        self._covered = 0  # ... and how many of those a completed fetch answers
        self._background: asyncio.Task[None] | None = None

    def stale(self) -> bool:
        return self._clock() - self._synced_at >= self._poll_s

    async def catch_up(self) -> None:
        """On a check that found the view older than `poll_s`: the first fetch is awaited,
        later ones run in the background while the current view answers."""
        if self._synced_at == float("-inf"):
            await self.refresh()
        elif self._background is None or self._background.done():
            self._background = asyncio.create_task(self._refresh_quietly())

    async def refresh(self) -> None:
        """Read every change committed before this call (a fetch already under way may
        have started too early, so it does not count)."""
        self._asked += 1
        asked = self._asked
        async with self._lock:
            if self._covered >= asked:
                return
            covers = self._asked
            try:
                changes = await self._fetch(self._since)
            except Exception as exc:
                log.warning("session changes not fetched", error=str(exc))
                raise Problem(
                    503,
                    "Cannot check sessions right now: the identity service is unavailable; "
                    "retry shortly.",
                    headers={"Retry-After": "5"},
                ) from exc
            self._merge(changes)
            self._covered = covers

    def apply(self, principal: Principal) -> Principal:
        """The principal as its user's current session allows; Unauthenticated if ended."""
        change = self._changes.get((principal.shop, principal.user_id))
        if change is None:
            return principal
        if principal.session_version < change.version:
            raise Unauthenticated(
                "This session has ended (a logout or a password change); log in again."
            )
        roles = frozenset(change.roles)
        if roles == principal.roles:
            return principal
        return dataclasses.replace(principal, roles=roles)

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(Problem):  # logged; our view answers until identity is back
            await self.refresh()

    def _merge(self, feed: SessionChanges) -> None:
        for change in feed.changes:
            key = (change.shop, change.user_id)
            known = self._changes.get(key)
            if known is None or (change.version, change.changed_at) >= (
                known.version,
                known.changed_at,
            ):
                self._changes[key] = change
        horizon = feed.as_of - feed.retention_s
        for key in [k for k, c in self._changes.items() if c.changed_at < horizon]:
            del self._changes[key]
        self._since = feed.as_of - OVERLAP_S
        self._synced_at = self._clock()
