"""Deleting a Shop (through the finalizer): routes, children and the dedicated namespace."""

from __future__ import annotations

import kopf

from shopfleet_operator import build
from shopfleet_operator.handlers.children import prune
from shopfleet_operator.handlers.reconcile import SHARED_KINDS, Memo, summary
from shopfleet_operator.handlers.routes import put_route


async def delete(body: kopf.Body, memo: Memo) -> None:
    config, kube = memo.config, memo.kube
    name, namespace = body.metadata.name, body.metadata.namespace or "default"
    labels = {build.LABEL_SHOP: name, build.LABEL_SHOP_NAMESPACE: namespace}
    done = []
    if await put_route(kube, config, name, None):
        done.append("removed Route")
    done += await prune(kube, SHARED_KINDS, config.namespace, labels, [])
    # A namespace cannot be owned by the Shop: delete it (and so all in it) ourselves.
    done += await prune(kube, ["Namespace"], None, labels, [])
    if body.spec.get("deletionPolicy") == "Delete":
        done += await prune(kube, ["PersistentVolumeClaim"], config.namespace, labels, [])
    memo.platform.forget(name)
    if done:
        kopf.event(body, type="Normal", reason="Deleted", message=summary(done))
