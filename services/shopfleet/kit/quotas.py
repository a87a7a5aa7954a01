"""A shop's quotas (the Shop's `spec.quotas`) as services enforce them.

Identity holds them in the shop's settings (the operator re-bootstraps the tenant when the
spec changes); a service reads them through invocation and keeps them `ttl_s`, so a
changed quota holds within seconds. The count and the insert it allows are decided in one
transaction under a lock per shop and quota (`lock_quota`): parallel creates queue there,
so a burst cannot pass the limit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.contracts.tenants import TenantQuotas
from shopfleet.kit.errors import Problem

QUOTA_EXCEEDED = "quota-exceeded"


class QuotaReader:
    """Quotas by shop, asked of identity and kept `ttl_s` seconds."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        identity_app_id: str = "identity",
        timeout_s: float = 3.0,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = IdentityClient(invoker, app_id=identity_app_id, timeout_s=timeout_s)
        self.ttl_s, self.clock = ttl_s, clock
        self._known: dict[str, tuple[float, TenantQuotas]] = {}

    async def get(self, shop: str) -> TenantQuotas:
        known = self._known.get(shop)
        if known is not None and self.clock() < known[0]:
            return known[1]
        quotas = (await self.identity.settings(shop, purpose="quotas")).quotas
        self._known[shop] = (self.clock() + self.ttl_s, quotas)
        return quotas

    def remember(self, shop: str, quotas: TenantQuotas) -> None:
        """Quotas just read with the shop's other settings: no second call for them."""
        self._known[shop] = (self.clock() + self.ttl_s, quotas)


async def lock_quota(session: AsyncSession, quota: str, shop: str) -> None:
    """Serialize the checks of one shop's quota until the transaction ends: PostgreSQL's
    transaction-scoped advisory lock; on SQLite the writing transaction (BEGIN IMMEDIATE)
    holds the database's write lock already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"quota:{quota}:{shop}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def quota_exceeded(
    status: int, quota: str, limit: int, used: int, detail: str, *, retry_after_s: int | None = None
) -> Problem:
    """The problem a refused create answers: names the quota, its limit and the count."""
    return Problem(
        status,
        detail,
        slug=QUOTA_EXCEEDED,
        quota=quota,
        limit=limit,
        used=used,
        headers={"Retry-After": str(retry_after_s)} if retry_after_s is not None else None,
    )


def start_of_utc_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_to_utc_midnight(now: datetime) -> int:
    """Whole seconds until the next day begins in UTC (at least 1)."""
    end = start_of_utc_day(now) + timedelta(days=1)
    return max(1, int((end - now).total_seconds() + 0.999))
