"""Tenants' rules: who owns a tenant, and what bootstrapping one that exists does.

A Shop's name is unique platform-wide only while the Shop exists. Its tenant outlives it
with `deletionPolicy: Retain`, so a Shop of the same name applied later must not inherit
the data unless it is the same namespace's (re-creating a deleted Shop is what Retain is
for). A tenant without a recorded owner (made before owners were recorded, or by the CLI)
is adopted by the first Shop that bootstraps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopfleet.identity.domain.refusals import TenantOwned
from shopfleet.kit.contracts.tenants import TenantOwner, TenantQuotas


def owner_of(namespace: str | None, uid: str | None) -> TenantOwner | None:
    if namespace is None:
        return None
    return TenantOwner(namespace=namespace, uid=uid or "")


def may_take(current: TenantOwner | None, claimant: TenantOwner | None) -> bool:
    """Whether `claimant` may bootstrap a tenant `current` owns."""
    if current is None:
        return True
    return claimant is not None and claimant.namespace == current.namespace


@dataclass(frozen=True, slots=True)
class ExistingBootstrap:
    """What a bootstrap of an existing tenant changes (None: nothing of that)."""

    adopt: TenantOwner | None  # record this claimant as the owner
    quotas: TenantQuotas | None  # set the shop's quotas to the spec's


def plan_existing_bootstrap(
    shop: str,
    owner: TenantOwner | None,
    claimant: TenantOwner | None,
    quotas: TenantQuotas,
    wanted: TenantQuotas,
) -> ExistingBootstrap:
    """Refused (TenantOwned) if another namespace owns it; else adopted by the claimant if
    it has no owner or another uid, with the spec's quotas."""
    if not may_take(owner, claimant):
        assert owner is not None
        raise TenantOwned.of(shop, owner)
    adopt = claimant if claimant is not None and claimant != owner else None
    return ExistingBootstrap(adopt=adopt, quotas=wanted if quotas != wanted else None)
