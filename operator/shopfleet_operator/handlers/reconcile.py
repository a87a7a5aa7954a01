"""Create, update, resume and the drift timer: make the cluster match the Shop.

Every step compares what is wanted with what is there and writes only the difference,
so a reconcile of an unchanged shop writes nothing (no objects, no status, no events).
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from shopfleet_operator.build.children import children
from shopfleet_operator.build.names import (
    MANAGED_BY,
    dedicated_namespace,
    endpoints,
    owner_labels,
    services,
    shop_url,
)
from shopfleet_operator.build.routing import route
from shopfleet_operator.build.secrets import SECRET_STRIPE_KEY, SECRET_WEBHOOK, account_secret_name
from shopfleet_operator.crd import QuotaUsage, Shop, ShopStatus, ShopUsage
from shopfleet_operator.handlers.accounts import AccountError, AccountOwned
from shopfleet_operator.handlers.children import apply_all, prune, prune_named
from shopfleet_operator.handlers.memo import Memo
from shopfleet_operator.handlers.names import NameTaken, claim
from shopfleet_operator.handlers.routes import HostTaken, RouteConflict, put_route
from shopfleet_operator.handlers.status import Check, next_status, write_status
from shopfleet_operator.handlers.tenant import BootstrapError, secret_value
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


async def deployments_available(kube: Kube, shop: Shop) -> list[str]:
    """Names of the dedicated shop's Deployments that are not (yet) available."""
    missing = []
    for name in services():
        deployment = await kube.get("Deployment", dedicated_namespace(shop), name)
        status = (deployment or {}).get("status") or {}
        wanted = ((deployment or {}).get("spec") or {}).get("replicas", 1)
        if (status.get("availableReplicas") or 0) < wanted:
            missing.append(name)
    return missing


async def secret_values(kube: Kube, shop: Shop) -> tuple[dict[str, str], Check]:
    payments = shop.spec.payments
    values: dict[str, str] = {}
    for key, ref in (
        (SECRET_STRIPE_KEY, payments.stripe_secret_ref),
        (SECRET_WEBHOOK, payments.webhook_secret_ref),
    ):
        if ref is None:
            continue
        value = await secret_value(kube, shop.namespace, ref)
        if value is None:
            message = f"Secret {shop.namespace}/{ref.name} has no key '{ref.key}' (yet)."
            return values, Check("PaymentsReady", False, "StripeSecretMissing", message)
        values[key] = value
    if payments.stripe_secret_ref is None:
        return values, Check(
            "PaymentsReady", True, "PlatformStripeAccount", "Payments use the platform's account."
        )
    return values, Check("PaymentsReady", True, "StripeKeyConfigured", "The shop's Stripe key.")


async def shop_usage(memo: Memo, shop: Shop, current: ShopStatus) -> ShopUsage | None:
    """Usage against the spec's products and orders quotas (one call of the platform: the
    gateway asks the shop's catalog and orders, a dedicated shop's own with its derived
    credential), for a shop that has either; the last count when the platform cannot say."""
    quotas = shop.spec.quotas
    if quotas.products is None and quotas.orders_per_day is None:
        return None
    counted = await memo.platform.usage(shop)
    if counted is None:
        return current.usage
    return ShopUsage(
        products=_usage(counted.products, quotas.products is not None),
        orders_today=_usage(counted.orders_today, quotas.orders_per_day is not None),
    )


def _usage(counted: Any, wanted: bool) -> QuotaUsage | None:
    if counted is None or not wanted:
        return None
    return QuotaUsage(used=counted.used, limit=counted.limit)


async def route_served(memo: Memo, shop: Shop, current: ShopStatus, changed: bool) -> Check:
    """RoutesReady: every gateway replica serves the shop's route (asked again only when
    the route changed or was not served yet: a replica that restarts loads the whole table)."""
    served = Check("RoutesReady", True, "RouteServed", ", ".join(shop.spec.hosts))
    before = current.condition("RoutesReady")
    if not changed and before and (before.status, before.reason) == ("True", served.reason):
        return served
    if not memo.gateways.askable:
        message = "The operator cannot ask the gateway: SHOPFLEET_PLATFORM_TOKEN is not set."
        return Check("RoutesReady", False, "RouteNotLoaded", message)
    missing = await memo.gateways.not_serving(memo.kube, shop.name, route(shop))
    return served if missing is None else Check("RoutesReady", False, "RouteNotLoaded", missing)


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
    config, kube = memo.config, memo.kube
    # The event may be older than the last status written (by the timer, say): read it again.
    fresh = await kube.get("Shop", body.metadata.namespace, body.metadata.name)
    if fresh is None or fresh["metadata"].get("deletionTimestamp"):
        return  # going away: the delete handler cleans up
    current = current_status(fresh.get("status") or {})
    generation = body.metadata.get("generation")
    # Before anything is written: the name (and all keyed by it) may be another Shop's.
    try:
        await claim(kube, config, fresh["metadata"])
    except NameTaken as exc:
        await refuse(body, kube, current, generation, str(exc))
        return
    try:
        shop = parse(body)
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

    done: list[tuple[str, str]] = []  # (reason, message) of each step that changed something
    temporary: list[str] = []
    values, payments = await secret_values(kube, shop)
    if not payments.ok:
        temporary.append(payments.message)

    # A dedicated shop's own database role and databases, RabbitMQ vhost and user: before
    # the Secret that carries them into its namespace.
    storage = Check("StorageReady", True, "StateStoreConfigured", f"Dapr {shop.spec.state_store}.")
    account = None
    if shop.spec.tier == "dedicated":
        try:
            account = await memo.accounts.ensure(kube, shop)
        except AccountOwned as exc:  # permanent: nothing is made on another's databases
            storage = Check("StorageReady", False, "TenantOwned", str(exc)[:1000])
        except AccountError as exc:
            storage = Check("StorageReady", False, "AccountsUnavailable", str(exc)[:1000])
            temporary.append(str(exc))

    # Children: the namespace and everything in it (dedicated), secrets, components, ingresses.
    if storage.ok:
        desired = [own(obj, body, shop) for obj in children(shop, config, values, account)]
        actions = await apply_all(kube, desired)
        managed = {**MANAGED_BY, **owner_labels(shop)}  # (the cache answers)
        actions += await prune(kube, SHARED_KINDS, config.namespace, managed, desired)
        if shop.spec.tier == "shared":  # back from dedicated: its namespace goes
            space = dedicated_namespace(shop)
            actions += await prune_named(kube, "Namespace", None, space, managed)
            try:
                actions += await _retire_account(memo, shop, actions)
            except AccountError as exc:  # reported; its vhost is left to remove by hand
                storage = Check("StorageReady", False, "AccountsUnavailable", str(exc)[:1000])
        if actions:
            done.append(("ChildrenReconciled", summary(actions)))

    # The tenant, and the route. A shared shop's tenant first: if another namespace's
    # Shop owns it (kept by Retain), no route is put, so none of the hosts serves its data.
    # A dedicated shop's identity is found by its route: the route first.
    degraded = Check("Degraded", False, "AsExpected", "")
    ready = Check("Ready", True, "ShopReady", "The shop is serving.")
    tenant: BootstrapError | None = None
    if shop.spec.tier == "shared":
        tenant = await _bootstrap(memo, shop, done)
    owned = storage.reason == "TenantOwned" or (
        tenant is not None and tenant.reason == "TenantOwned"
    )
    try:
        wanted = None if owned else route(shop)
        changed = await put_route(kube, config, shop.name, wanted)
        if changed:
            said = f"Route: {wanted.model_dump_json()}" if wanted else "Route removed."
            done.append(("RouteUpdated", said))
        if owned:
            message = "No route: the shop's data is another namespace's (see Ready)."
            routes = Check("RoutesReady", False, "TenantOwned", message)
        else:
            routes = await route_served(memo, shop, current, changed)
            if not routes.ok and memo.gateways.askable:
                temporary.append(routes.message)
    except HostTaken as exc:
        routes = Check("RoutesReady", False, "HostTaken", str(exc))
    except RouteConflict as exc:
        routes = Check("RoutesReady", False, "RouteTableConflict", str(exc))
        temporary.append(str(exc))

    # The services (dedicated), unless refused another namespace's databases.
    serving = shop.spec.tier == "dedicated" and not owned
    if owned and storage.reason == "TenantOwned":
        ready = Check("Ready", False, "TenantOwned", storage.message)
    elif serving and (waiting := await deployments_available(kube, shop)):
        message = f"Waiting for Deployment(s) {', '.join(waiting)} to become available."
        ready = Check("Ready", False, "DeploymentsUnavailable", message)
        degraded = Check("Degraded", True, "DeploymentsUnavailable", message)
        temporary.append(message)
    if serving:
        tenant = await _bootstrap(memo, shop, done)
    if tenant is not None:
        if ready.ok:
            ready = Check("Ready", False, tenant.reason, tenant.message)
        if tenant.temporary:
            temporary.append(tenant.message)
            if tenant.reason.startswith("Platform"):
                degraded = Check("Degraded", True, tenant.reason, tenant.message)
    tenant_ok = tenant is None and not owned
    for check in (routes, storage, payments):
        if not check.ok and ready.ok:
            ready = Check("Ready", False, check.reason, check.message)
    usage = await shop_usage(memo, shop, current) if tenant_ok else current.usage
    if shop.spec.suspended and ready.ok:
        ready = Check("Ready", False, "Suspended", "The shop is suspended; its API answers 503.")

    new = next_status(
        current,
        [ready, routes, storage, payments, degraded],
        generation=generation,
        url=None if owned else shop_url(shop, config),
        endpoints={} if owned else endpoints(shop, config),
        usage=usage,
    )
    for reason, message in done:
        kopf.event(body, type="Normal", reason=reason, message=message)
    if await write_status(kube, shop.namespace, shop.name, current, new):
        before, after = current.condition("Ready"), new.condition("Ready")
        if (
            not before
            or not after
            or (before.status, before.reason) != (after.status, after.reason)
        ):
            kopf.event(
                body,
                type="Normal" if ready.ok else "Warning",
                reason=ready.reason,
                message=ready.message,
            )
    if temporary:
        raise kopf.TemporaryError("; ".join(temporary), delay=memo.config.retry_delay)


def api_errors_are_temporary(exc: ApiError) -> kopf.TemporaryError | kopf.PermanentError:
    if exc.temporary:
        return kopf.TemporaryError(f"The API server answered {exc}", delay=2)
    return kopf.PermanentError(f"The API server refused a request: {exc}")
