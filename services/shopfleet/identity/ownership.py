"""Who owns a tenant: the Shop (namespace, uid) that bootstrapped it.

A Shop's name is unique platform-wide only while the Shop exists. Its tenant outlives it
with `deletionPolicy: Retain`, so a Shop of the same name applied later must not inherit
the data unless it is the same namespace's (re-creating a deleted Shop is what Retain is
for). A tenant without a recorded owner (made before owners were recorded, or by the CLI)
is adopted by the first Shop that bootstraps it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.identity.models import Shop
from shopfleet.kit.contracts.tenants import TENANT_OWNED, TenantOwner
from shopfleet.kit.db import rowcount
from shopfleet.kit.errors import Problem


def owner_of(row: Shop) -> TenantOwner | None:
    if row.owner_namespace is None:
        return None
    return TenantOwner(namespace=row.owner_namespace, uid=row.owner_uid or "")


def may_take(current: TenantOwner | None, claimant: TenantOwner | None) -> bool:
    """Whether `claimant` may bootstrap a tenant `current` owns."""
    if current is None:
        return True
    return claimant is not None and claimant.namespace == current.namespace


async def take(session: AsyncSession, shop: str, claimant: TenantOwner) -> bool:
    """Record `claimant` as the owner unless another namespace took the tenant meanwhile
    (one conditional UPDATE: two namespaces adopting an unowned tenant at once, one wins)."""
    taken = await session.execute(
        sa.update(Shop)
        .where(
            col(Shop.slug) == shop,
            sa.or_(
                col(Shop.owner_namespace).is_(None),
                col(Shop.owner_namespace) == claimant.namespace,
            ),
        )
        .values(owner_namespace=claimant.namespace, owner_uid=claimant.uid)
    )
    return bool(rowcount(taken))


def tenant_owned(shop: str, owner: TenantOwner) -> Problem:
    """409: the tenant is another namespace's; says whose, and the two ways forward."""
    return Problem(
        409,
        f"The tenant '{shop}' (its users, orders and products) belongs to the Shop '{shop}' "
        f"of namespace '{owner.namespace}', whose data was kept when it was deleted "
        f"(deletionPolicy: Retain). To take it back, apply the Shop in namespace "
        f"'{owner.namespace}'; to start afresh, delete that data first "
        f"(`shopfleet shops purge {shop}`), then apply this Shop again.",
        slug=TENANT_OWNED,
        title="Tenant owned by another namespace",
        owner_namespace=owner.namespace,
    )
