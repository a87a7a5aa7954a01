"""Create, update, resume and the drift timer: make the cluster match the Shop.

Every step compares what is wanted with what is there and writes only the difference,
so a reconcile of an unchanged shop writes nothing (no objects, no status, no events).
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from shopfleet_operator.build.accounts import TenantAccount
from shopfleet_operator.build.children import children
from shopfleet_operator.build.names import MANAGED_BY, dedicated_namespace, owner_labels
from shopfleet_operator.build.routing import route
from shopfleet_operator.build.secrets import account_secret_name
from shopfleet_operator.crd import Shop, ShopStatus
from shopfleet_operator.handlers.accounts import AccountError, AccountOwned
from shopfleet_operator.handlers.children import apply_all, prune, prune_named
from shopfleet_operator.handlers.memo import Memo
from shopfleet_operator.handlers.names import NameTaken, claim
from shopfleet_operator.handlers.readiness import (
    Progress,
    judge,
    report,
    route_served,
    secret_values,
    services_ready,
)
from shopfleet_operator.handlers.routes import HostTaken, RouteConflict, put_route
from shopfleet_operator.handlers.status import Check, next_status, write_status
from shopfleet_operator.handlers.tenant import BootstrapError
from shopfleet_operator.kube import ApiError, Kube

SHARED_KINDS = ["Ingress", "Secret", "Component"]


def parse(body: kopf.Body) -> Shop:
    return Shop.model_validate(
        {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    )


def current_status(status: Any) -> ShopStatus:
    try:
        return ShopStatus.model_validate(dict(status))
    except ValidationError:
        return ShopStatus()


def own(obj: dict, body: kopf.Body, shop: Shop) -> dict:
    """Adopt children in the Shop's namespace (owners cannot cross namespaces)."""
    if obj["metadata"].get("namespace") == shop.namespace:
        kopf.append_owner_reference(obj, owner=body)
    return obj


async def _bootstrap(memo: Memo, shop: Shop, done: list[tuple[str, str]]) -> BootstrapError | None:
    """The tenant's bootstrap; its error, if any (reported by the caller)."""
    try:
        tenant = await memo.platform.bootstrap(memo.kube, shop)
    except BootstrapError as exc:
        return exc
    if tenant is not None and tenant.created:
        done.append(("TenantBootstrapped", f"Tenant {shop.name} with its admin user."))
    elif tenant is not None and tenant.adopted:
        message = (
            f"Tenant {shop.name} and its data, kept from an earlier Shop {shop.name} of "
            f"namespace {shop.namespace} (or made without an owner)."
        )
        done.append(("TenantAdopted", message))
    return None


def summary(actions: list[str]) -> str:
    """`created 3 Deployment, deleted 1 Ingress: Deployment shop-x/cart, ...` (bounded)."""
    counts: dict[str, int] = {}
    for action in actions:
        verb, kind = action.split(" ")[:2]
        counts[f"{verb} {kind}"] = counts.get(f"{verb} {kind}", 0) + 1
    head = ", ".join(f"{key.split()[0]} {n} {key.split()[1]}" for key, n in counts.items())
    return f"{head}: {'; '.join(a.split(' ', 1)[1] for a in actions)}"[:1000]


async def refuse(
    body: kopf.Body, kube: Kube, current: ShopStatus, generation: int | None, message: str
) -> None:
    """A Shop whose name another holds: say so (once, not on every drift check), no URL."""
    checks = [
        Check("Ready", False, "NameTaken", message),
        Check("RoutesReady", False, "NameTaken", "No route: the name is another Shop's."),
    ]
    new = next_status(current, checks, generation=generation, url=None, endpoints={})
    namespace = body.metadata.namespace or "default"
    if await write_status(kube, namespace, body.metadata.name, current, new):
        kopf.warn(body, reason="NameTaken", message=message)


async def _retire_account(memo: Memo, shop: Shop, pruned: list[str]) -> list[str]:
    """Back on the shared tier (its account's record just pruned): the shop's vhost and user
    go, its databases are kept and its role may no longer log in (as with Retain)."""
    record = f"deleted Secret {memo.config.namespace}/{account_secret_name(shop.name)}"
    if record not in pruned:
        return []
    return await memo.accounts.remove(shop.name, shop.namespace, drop_data=False)


async def reconcile(body: kopf.Body, memo: Memo) -> None:
    claimed = await claim_name(body, memo)
    if claimed is None:
        return
    current, generation = claimed
    shop = await parse_or_refuse(body, memo.kube, current, generation)
    progress = Progress()
    values, payments = await secret_values(memo.kube, shop)
    if not payments.ok:
        progress.temporary.append(payments.message)
    storage, account = await ensure_account(memo, shop, progress)
    if storage.ok:
        storage = await reconcile_children(body, memo, shop, values, account, progress) or storage
    tenant, owned, routes = await tenant_and_route(memo, shop, current, storage, progress)
    ready, degraded = await services_ready(memo, shop, storage, owned, progress)
    if shop.spec.tier == "dedicated" and not owned:  # its identity serves once they do
        tenant = await _bootstrap(memo, shop, progress.done)
    ready, degraded = judge(shop, ready, degraded, tenant, [routes, storage, payments], progress)
    checks = [ready, routes, storage, payments, degraded]
    tenant_ok = tenant is None and not owned
    await report(body, memo, shop, current, generation, checks, owned, tenant_ok, progress)
    if progress.temporary:
        raise kopf.TemporaryError("; ".join(progress.temporary), delay=memo.config.retry_delay)


async def claim_name(body: kopf.Body, memo: Memo) -> tuple[ShopStatus, int | None] | None:
    """The Shop's status as last written, and its generation; None when there is nothing to
    do: the Shop is going away, or its name is another Shop's (which its status says)."""
    kube = memo.kube
    # The event may be older than the last status written (by the timer, say): read it again.
    fresh = await kube.get("Shop", body.metadata.namespace, body.metadata.name)
    if fresh is None or fresh["metadata"].get("deletionTimestamp"):
        return None  # going away: the delete handler cleans up
    current = current_status(fresh.get("status") or {})
    generation = body.metadata.get("generation")
    # Before anything is written: the name (and all keyed by it) may be another Shop's.
    try:
        await claim(kube, memo.config, fresh["metadata"])
    except NameTaken as exc:
        await refuse(body, kube, current, generation, str(exc))
        return None
    return current, generation


async def parse_or_refuse(
    body: kopf.Body, kube: Kube, current: ShopStatus, generation: int | None
) -> Shop:
    """The Shop; or, when its spec is invalid, the errors in its status and a PermanentError."""
    try:
        return parse(body)
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )[:1000]
        bad = Check("Ready", False, "InvalidSpec", f"The Shop's spec is invalid: {message}")
        new = next_status(current, [bad], generation=generation, url=None, endpoints={})
        if await write_status(
            kube, body.metadata.namespace or "default", body.metadata.name, current, new
        ):
            kopf.warn(body, reason="InvalidSpec", message=bad.message)
        raise kopf.PermanentError(bad.message) from None


async def ensure_account(
    memo: Memo, shop: Shop, progress: Progress
) -> tuple[Check, TenantAccount | None]:
    """A dedicated shop's own database role and databases, RabbitMQ vhost and user: before
    the Secret that carries them into its namespace. StorageReady, and the account."""
    storage = Check("StorageReady", True, "StateStoreConfigured", f"Dapr {shop.spec.state_store}.")
    if shop.spec.tier != "dedicated":
        return storage, None
    try:
        return storage, await memo.accounts.ensure(memo.kube, shop)
    except AccountOwned as exc:  # permanent: nothing is made on another's databases
        return Check("StorageReady", False, "TenantOwned", str(exc)[:1000]), None
    except AccountError as exc:
        progress.temporary.append(str(exc))
        return Check("StorageReady", False, "AccountsUnavailable", str(exc)[:1000]), None


async def reconcile_children(
    body: kopf.Body,
    memo: Memo,
    shop: Shop,
    values: dict[str, str],
    account: TenantAccount | None,
    progress: Progress,
) -> Check | None:
    """The namespace and everything in it (dedicated), secrets, components, ingresses: made
    or updated as built, the others pruned. A StorageReady failure when a shop back on the
    shared tier could not give up its account."""
    config, kube = memo.config, memo.kube
    desired = [own(obj, body, shop) for obj in children(shop, config, values, account)]
    actions = await apply_all(kube, desired)
    managed = {**MANAGED_BY, **owner_labels(shop)}  # (the cache answers)
    actions += await prune(kube, SHARED_KINDS, config.namespace, managed, desired)
    failed = None
    if shop.spec.tier == "shared":  # back from dedicated: its namespace goes
        space = dedicated_namespace(shop)
        actions += await prune_named(kube, "Namespace", None, space, managed)
        try:
            actions += await _retire_account(memo, shop, actions)
        except AccountError as exc:  # reported; its vhost is left to remove by hand
            failed = Check("StorageReady", False, "AccountsUnavailable", str(exc)[:1000])
    if actions:
        progress.done.append(("ChildrenReconciled", summary(actions)))
    return failed


async def tenant_and_route(
    memo: Memo, shop: Shop, current: ShopStatus, storage: Check, progress: Progress
) -> tuple[BootstrapError | None, bool, Check]:
    """The tenant, and the route. A shared shop's tenant first: if another namespace's Shop
    owns it (kept by Retain), no route is put, so none of the hosts serves its data. A
    dedicated shop's identity is found by its route: the route first (its tenant later).
    The bootstrap's error, whether the data is another namespace's, and RoutesReady."""
    tenant: BootstrapError | None = None
    if shop.spec.tier == "shared":
        tenant = await _bootstrap(memo, shop, progress.done)
    owned = storage.reason == "TenantOwned" or (
        tenant is not None and tenant.reason == "TenantOwned"
    )
    return tenant, owned, await reconcile_route(memo, shop, current, owned, progress)


async def reconcile_route(
    memo: Memo, shop: Shop, current: ShopStatus, owned: bool, progress: Progress
) -> Check:
    """The shop's entry in the route table (none when its data is another namespace's), and
    whether every gateway serves it: RoutesReady."""
    try:
        wanted = None if owned else route(shop)
        changed = await put_route(memo.kube, memo.config, shop.name, wanted)
        if changed:
            said = f"Route: {wanted.model_dump_json()}" if wanted else "Route removed."
            progress.done.append(("RouteUpdated", said))
        if owned:
            message = "No route: the shop's data is another namespace's (see Ready)."
            return Check("RoutesReady", False, "TenantOwned", message)
        routes = await route_served(memo, shop, current, changed)
        if not routes.ok and memo.gateways.askable:
            progress.temporary.append(routes.message)
        return routes
    except HostTaken as exc:
        return Check("RoutesReady", False, "HostTaken", str(exc))
    except RouteConflict as exc:
        progress.temporary.append(str(exc))
        return Check("RoutesReady", False, "RouteTableConflict", str(exc))


def api_errors_are_temporary(exc: ApiError) -> kopf.TemporaryError | kopf.PermanentError:
    if exc.temporary:
        return kopf.TemporaryError(f"The API server answered {exc}", delay=2)
    return kopf.PermanentError(f"The API server refused a request: {exc}")
