"""Deleting a Shop (through the finalizer): its data (`deletionPolicy: Delete`), routes,
children, the dedicated namespace and the dedicated shop's accounts (its databases and
role with `deletionPolicy: Delete`)."""

from __future__ import annotations

import kopf

from shopfleet.kit.contracts.tenants import TenantOwner
from shopfleet.kit.tenant_data import PURGE_ORDER
from shopfleet_operator.build.names import (
    CLAIM_PREFIX,
    LABEL_SHOP,
    LABEL_SHOP_NAMESPACE,
    dedicated_namespace_of,
)
from shopfleet_operator.crd import ShopStatus
from shopfleet_operator.handlers.accounts import AccountError
from shopfleet_operator.handlers.children import prune
from shopfleet_operator.handlers.memo import Memo
from shopfleet_operator.handlers.names import NameTaken, claim, release
from shopfleet_operator.handlers.reconcile import SHARED_KINDS, current_status, parse, summary
from shopfleet_operator.handlers.routes import put_route
from shopfleet_operator.handlers.status import Check, with_condition, write_status
from shopfleet_operator.handlers.tenant import BootstrapError


async def delete(body: kopf.Body, memo: Memo) -> None:
    config, kube = memo.config, memo.kube
    name, namespace = body.metadata.name, body.metadata.namespace or "default"
    labels = {LABEL_SHOP: name, LABEL_SHOP_NAMESPACE: namespace}
    uid = body.metadata.uid
    # The route, Secret, namespace and tenant of a name another Shop holds are its own.
    # (An unclaimed name is claimed first, so that no other Shop takes it mid-cleanup.)
    try:
        await claim(kube, config, body.metadata)
    except NameTaken as exc:
        # Only objects labelled as this Shop's own go (an operator without name claims
        # made them for it); the route and the holder's objects stay.
        left = await prune(kube, SHARED_KINDS, config.namespace, labels, [])
        left += await prune(kube, ["Namespace"], None, labels, [])
        message = f"Deleted without touching anything of {exc.holder}, which holds the name"
        kopf.event(
            body,
            type="Normal",
            reason="Deleted",
            message=f"{message}; {summary(left)}" if left else f"{message}.",
        )
        return
    done = []
    deleting = body.spec.get("deletionPolicy") == "Delete"
    if deleting and (owner := await _others_tenant(body, memo)) is not None:
        # Refused its tenant (TenantOwned): the data is that namespace's, never this Shop's.
        deleting = False
        kopf.event(
            body,
            type="Normal",
            reason="DataKept",
            message=f"The tenant {name} is namespace {owner.namespace}'s: its data is kept.",
        )
    if deleting and body.spec.get("tier", "shared") == "shared":
        # Before the route goes: the gateway finds the shop's services by it.
        rows = await purge_data(body, memo)
        done.append(f"deleted {sum(rows.values())} rows: {name} in every service")
    if await put_route(kube, config, name, None):
        done.append("removed Route")
    done += await prune(kube, SHARED_KINDS, config.namespace, labels, [])
    # A namespace cannot be owned by the Shop: delete it (and so all in it) ourselves.
    done += await prune(kube, ["Namespace"], None, labels, [])
    if deleting:
        done += await prune(kube, ["PersistentVolumeClaim"], config.namespace, labels, [])
    if body.spec.get("tier") == "dedicated":
        # Its pods drain for their grace period and their sidecars keep publishing until
        # the namespace is gone: only then do its databases and vhost go.
        home = dedicated_namespace_of(name)
        if await kube.get("Namespace", None, home) is not None:
            raise kopf.TemporaryError(
                f"Waiting for namespace {home} to terminate before removing the shop's "
                "databases, role, vhost and user.",
                delay=min(memo.config.retry_delay, 5),
            )
        try:
            done += await memo.accounts.remove(name, namespace, drop_data=deleting)
        except AccountError as exc:
            raise kopf.TemporaryError(str(exc), delay=memo.config.retry_delay) from exc
    memo.platform.forget(name)
    if await release(kube, config, name, uid):  # a Shop of this name waiting may take it now
        done.append(f"released Lease {config.namespace}/{CLAIM_PREFIX}{name}")
    if done:
        kopf.event(body, type="Normal", reason="Deleted", message=summary(done))


async def _others_tenant(body: kopf.Body, memo: Memo) -> TenantOwner | None:
    """The owner of the shop's tenant if it is a Shop of another namespace (asked before
    the route goes: the gateway finds a dedicated shop's identity by it)."""
    try:
        owner = await memo.platform.owner(body.metadata.name)
    except BootstrapError as exc:
        if exc.temporary:  # unknown: nothing may be deleted until it is known
            raise kopf.TemporaryError(exc.message, delay=memo.config.retry_delay) from None
        return None  # no platform: it never held a tenant of this operator's
    namespace = body.metadata.namespace or "default"
    return owner if owner is not None and owner.namespace != namespace else None


async def purge_data(body: kopf.Body, memo: Memo) -> dict[str, int]:
    """Delete the shop's data in every service, identity last (the tenant, and its admin,
    work until the rest is gone); the `Deleting` condition says which are done. A failure
    is retried (kopf.TemporaryError): the Shop stays until its data is gone."""
    shop = parse(body)
    status = current_status(body.status)
    rows: dict[str, int] = {}
    purged: list[str] = []
    for service in PURGE_ORDER:
        try:
            deleted = await memo.platform.purge(shop, service)
        except BootstrapError as exc:
            if not exc.temporary:  # no platform: it never held a tenant of this operator's
                kopf.warn(body, reason="DataNotDeleted", message=exc.message)
                return rows
            check = Check("Deleting", True, exc.reason, _progress(purged, service, exc.message))
            status = await _report(memo, shop.namespace, shop.name, status, check)
            raise kopf.TemporaryError(exc.message, delay=memo.config.retry_delay) from None
        rows[service] = sum(deleted.values())
        purged.append(service)
        check = Check("Deleting", True, "DeletingData", _progress(purged, None, ""))
        status = await _report(memo, shop.namespace, shop.name, status, check)
    done = ", ".join(f"{service} {n}" for service, n in rows.items())
    check = Check("Deleting", True, "DataDeleted", f"Rows deleted by service: {done}.")
    await _report(memo, shop.namespace, shop.name, status, check)
    kopf.event(body, type="Normal", reason="DataDeleted", message=f"Rows deleted: {done}.")
    return rows


def _progress(purged: list[str], failed: str | None, error: str) -> str:
    left = [s for s in PURGE_ORDER if s not in purged]
    text = f"Data deleted in: {', '.join(purged) or 'none yet'}; left: {', '.join(left)}."
    if failed:
        text += f" {failed} failed (retrying): {error}"
    return text[:1000]


async def _report(
    memo: Memo, namespace: str, name: str, status: ShopStatus, check: Check
) -> ShopStatus:
    new = with_condition(status, check)
    await write_status(memo.kube, namespace, name, status, new)
    return new
