"""What a Shop's status says and how each part is asked: its Stripe Secrets (PaymentsReady),
its gateways (RoutesReady), its Deployments and tenant (Ready, Degraded), its usage against
its quotas; then the status written, with the reconcile's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kopf

from shopfleet_operator.build.names import dedicated_namespace, endpoints, services, shop_url
from shopfleet_operator.build.routing import route
from shopfleet_operator.build.secrets import SECRET_STRIPE_KEY, SECRET_WEBHOOK
from shopfleet_operator.crd import QuotaUsage, Shop, ShopStatus, ShopUsage
from shopfleet_operator.handlers.memo import Memo
from shopfleet_operator.handlers.status import Check, next_status, write_status
from shopfleet_operator.handlers.tenant import BootstrapError, secret_value
from shopfleet_operator.kube import Kube


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


@dataclass
class Progress:
    """What one reconcile changed (an event each, sent with the status) and what failed for
    now (retried, in this order, by a TemporaryError)."""

    done: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    temporary: list[str] = field(default_factory=list)


async def services_ready(
    memo: Memo, shop: Shop, storage: Check, owned: bool, progress: Progress
) -> tuple[Check, Check]:
    """Ready and Degraded as the services (dedicated) make them, unless refused another
    namespace's databases."""
    ready = Check("Ready", True, "ShopReady", "The shop is serving.")
    degraded = Check("Degraded", False, "AsExpected", "")
    if owned and storage.reason == "TenantOwned":
        return Check("Ready", False, "TenantOwned", storage.message), degraded
    serving = shop.spec.tier == "dedicated" and not owned
    if serving and (waiting := await deployments_available(memo.kube, shop)):
        message = f"Waiting for Deployment(s) {', '.join(waiting)} to become available."
        progress.temporary.append(message)
        ready = Check("Ready", False, "DeploymentsUnavailable", message)
        degraded = Check("Degraded", True, "DeploymentsUnavailable", message)
    return ready, degraded


def judge(
    shop: Shop,
    ready: Check,
    degraded: Check,
    tenant: BootstrapError | None,
    others: list[Check],
    progress: Progress,
) -> tuple[Check, Check]:
    """Ready and Degraded with the tenant's bootstrap and the other conditions: Ready says
    the first thing that fails (the services, the tenant, then `others` in order), or that
    the shop is suspended."""
    if tenant is not None:
        if ready.ok:
            ready = Check("Ready", False, tenant.reason, tenant.message)
        if tenant.temporary:
            progress.temporary.append(tenant.message)
            if tenant.reason.startswith("Platform"):
                degraded = Check("Degraded", True, tenant.reason, tenant.message)
    for check in others:
        if not check.ok and ready.ok:
            ready = Check("Ready", False, check.reason, check.message)
    if shop.spec.suspended and ready.ok:
        ready = Check("Ready", False, "Suspended", "The shop is suspended; its API answers 503.")
    return ready, degraded


async def report(
    body: kopf.Body,
    memo: Memo,
    shop: Shop,
    current: ShopStatus,
    generation: int | None,
    checks: list[Check],
    owned: bool,
    tenant_ok: bool,
    progress: Progress,
) -> None:
    """The status (written only if changed), an event per change made, and one when Ready
    changes. `checks` begins with Ready; the usage is asked only of a tenant that is ours."""
    ready = checks[0]
    usage = await shop_usage(memo, shop, current) if tenant_ok else current.usage
    new = next_status(
        current,
        checks,
        generation=generation,
        url=None if owned else shop_url(shop, memo.config),
        endpoints={} if owned else endpoints(shop, memo.config),
        usage=usage,
    )
    for reason, message in progress.done:
        kopf.event(body, type="Normal", reason=reason, message=message)
    if await write_status(memo.kube, shop.namespace, shop.name, current, new):
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
