"""Create, update, resume and the drift timer: make the cluster match the Shop.

Every step compares what is wanted with what is there and writes only the difference,
so a reconcile of an unchanged shop writes nothing (no objects, no status, no events).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from shopfleet_operator import build
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop, ShopStatus
from shopfleet_operator.handlers.children import apply_all, prune
from shopfleet_operator.handlers.routes import HostTaken, RouteConflict, put_route
from shopfleet_operator.handlers.status import Check, next_status, write_status
from shopfleet_operator.handlers.tenant import BootstrapError, Platform, secret_value
from shopfleet_operator.kube import ApiError, Kube

SHARED_KINDS = ["Ingress", "Secret", "Component"]


@dataclass
class Memo:
    """What the handlers share (kopf's `memo`)."""

    config: Config
    kube: Kube
    platform: Platform
    retry_delay: float = 10.0
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)


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
    for name in build.services():
        deployment = await kube.get("Deployment", build.dedicated_namespace(shop), name)
        status = (deployment or {}).get("status") or {}
        wanted = ((deployment or {}).get("spec") or {}).get("replicas", 1)
        if (status.get("availableReplicas") or 0) < wanted:
            missing.append(name)
    return missing


async def secret_values(kube: Kube, shop: Shop) -> tuple[dict[str, str], Check]:
    payments = shop.spec.payments
    values: dict[str, str] = {}
    for key, ref in (
        (build.SECRET_STRIPE_KEY, payments.stripe_secret_ref),
        (build.SECRET_WEBHOOK, payments.webhook_secret_ref),
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


def summary(actions: list[str]) -> str:
    """`created 3 Deployment, deleted 1 Ingress: Deployment shop-x/cart, ...` (bounded)."""
    counts: dict[str, int] = {}
    for action in actions:
        verb, kind = action.split(" ")[:2]
        counts[f"{verb} {kind}"] = counts.get(f"{verb} {kind}", 0) + 1
    head = ", ".join(f"{key.split()[0]} {n} {key.split()[1]}" for key, n in counts.items())
    return f"{head}: {'; '.join(a.split(' ', 1)[1] for a in actions)}"[:1000]


async def reconcile(body: kopf.Body, memo: Memo) -> None:
    config, kube = memo.config, memo.kube
    # The event may be older than the last status written (by the timer, say): read it again.
    fresh = await kube.get("Shop", body.metadata.namespace, body.metadata.name)
    if fresh is None or fresh["metadata"].get("deletionTimestamp"):
        return  # going away: the delete handler cleans up
    current = current_status(fresh.get("status") or {})
    generation = body.metadata.get("generation")
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

    # Children: the namespace and everything in it (dedicated), secrets, components, ingresses.
    desired = [own(obj, body, shop) for obj in build.children(shop, config, values)]
    children = await apply_all(kube, desired)
    children += await prune(kube, SHARED_KINDS, config.namespace, build.owner_labels(shop), desired)
    if shop.spec.tier == "shared":  # back from dedicated: its namespace goes
        children += await prune(kube, ["Namespace"], None, build.owner_labels(shop), [])
    if children:
        done.append(("ChildrenReconciled", summary(children)))
    storage = Check("StorageReady", True, "StateStoreConfigured", f"Dapr {shop.spec.state_store}.")

    # The route.
    try:
        if await put_route(kube, config, shop.name, build.route(shop)):
            done.append(("RouteUpdated", f"Route: {build.route(shop).model_dump_json()}"))
        routes = Check("RoutesReady", True, "RouteRegistered", ", ".join(shop.spec.hosts))
    except HostTaken as exc:
        routes = Check("RoutesReady", False, "HostTaken", str(exc))
    except RouteConflict as exc:
        routes = Check("RoutesReady", False, "RouteTableConflict", str(exc))
        temporary.append(str(exc))

    # The services (dedicated) and the tenant.
    degraded = Check("Degraded", False, "AsExpected", "")
    ready = Check("Ready", True, "ShopReady", "The shop is serving.")
    if shop.spec.tier == "dedicated" and (waiting := await deployments_available(kube, shop)):
        message = f"Waiting for Deployment(s) {', '.join(waiting)} to become available."
        ready = Check("Ready", False, "DeploymentsUnavailable", message)
        degraded = Check("Degraded", True, "DeploymentsUnavailable", message)
        temporary.append(message)
    try:
        if await memo.platform.bootstrap(kube, shop):
            done.append(("TenantBootstrapped", f"Tenant {shop.name} with its admin user."))
    except BootstrapError as exc:
        if ready.ok:
            ready = Check("Ready", False, exc.reason, exc.message)
        if exc.temporary:
            temporary.append(exc.message)
            if exc.reason.startswith("Platform"):
                degraded = Check("Degraded", True, exc.reason, exc.message)
    for check in (routes, storage, payments):
        if not check.ok and ready.ok:
            ready = Check("Ready", False, check.reason, check.message)
    if shop.spec.suspended and ready.ok:
        ready = Check("Ready", False, "Suspended", "The shop is suspended; its API answers 503.")

    new = next_status(
        current,
        [ready, routes, storage, payments, degraded],
        generation=generation,
        url=build.shop_url(shop, config),
        endpoints=build.endpoints(shop, config),
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
        raise kopf.TemporaryError("; ".join(temporary), delay=memo.retry_delay)


def api_errors_are_temporary(exc: ApiError) -> kopf.TemporaryError | kopf.PermanentError:
    if exc.temporary:
        return kopf.TemporaryError(f"The API server answered {exc}", delay=2)
    return kopf.PermanentError(f"The API server refused a request: {exc}")
