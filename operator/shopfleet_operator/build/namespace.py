"""A dedicated shop's Namespace, with its ResourceQuota and LimitRange, and the resources
(the app's, the sidecar's) they are sized from."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from shopfleet_operator import quantity
from shopfleet_operator.build.names import dedicated_namespace, labels, services
from shopfleet_operator.config import Config
from shopfleet_operator.crd import ResourceAmounts, Shop

DEFAULT_REQUESTS = ResourceAmounts(cpu="100m", memory="128Mi")
DEFAULT_LIMITS = ResourceAmounts(cpu="1", memory="512Mi")

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def times(quantity: str, factor: int) -> str:
    """`500m` × 4 = `2000m`; the unit is kept."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity (like 500m or 1.5Gi)")
    number, unit = match.groups()
    total = Decimal(number) * factor
    text = format(total.normalize(), "f")
    return f"{text}{unit}"


def _amounts(amounts: ResourceAmounts, fallback: ResourceAmounts) -> dict[str, str]:
    return {
        "cpu": amounts.cpu or fallback.cpu or "",
        "memory": amounts.memory or fallback.memory or "",
    }


def container_resources(shop: Shop) -> dict[str, dict[str, str]]:
    spec = shop.spec.resources
    return {
        "requests": _amounts(spec.requests, DEFAULT_REQUESTS),
        "limits": _amounts(spec.limits, DEFAULT_LIMITS),
    }


# A dedicated shop's pods meet Pod Security "restricted"; its namespace enforces it (and
# warns and audits at the same level), so nothing less locked down can run there.
POD_SECURITY = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}


def namespace(shop: Shop) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": dedicated_namespace(shop),
            "labels": {**labels(shop, "namespace"), **POD_SECURITY},
        },
    }


# The container Dapr's injector adds to every pod: the chart's `dapr.sidecar` values
# (cpuRequest, memoryRequest, memoryLimit). It sets no CPU limit, so the namespace's
# LimitRange default (the app container's CPU limit) becomes its limit.
SIDECAR_REQUESTS = {"cpu": "50m", "memory": "64Mi"}
SIDECAR_LIMITS = {"memory": "256Mi"}
# A Deployment's rolling update surges by maxSurge: 25% of its replicas, rounded up (the
# default, which the Deployments keep).
SURGE_PERCENT = 25


def sidecar_resources(config: Config) -> dict[str, dict[str, str]]:
    """The sidecar's requests and limits: the chart's annotations, else its defaults."""
    given = dict(config.dapr_annotations)
    found: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    for side, defaults in (("requests", SIDECAR_REQUESTS), ("limits", SIDECAR_LIMITS)):
        for resource in ("cpu", "memory"):
            value = given.get(f"dapr.io/sidecar-{resource}-{side[:-1]}", defaults.get(resource))
            if value:
                found[side][resource] = value
    return found


def resource_quota(shop: Shop, config: Config) -> dict:
    """The dedicated namespace's quota, sized for the worst moment: every Deployment rolling
    at once, so each has replicas + surge pods, and each pod holds the app container and its
    Dapr sidecar (the migrate init container runs before them with the app's resources, so
    it never adds to a pod's total). Written canonical, as the server stores quantities
    (`5Gi`, never `5120Mi`), so that drift compares equal."""
    replicas = shop.spec.resources.replicas
    pods = len(services()) * (replicas + math.ceil(replicas * SURGE_PERCENT / 100))
    app = container_resources(shop)
    sidecar = sidecar_resources(config)
    sidecar["limits"].setdefault("cpu", app["limits"]["cpu"])
    hard = {"pods": str(pods)}
    for side in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            hard[f"{side}.{resource}"] = quantity.total(
                [app[side][resource], sidecar[side][resource]], pods
            )
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "shop",
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "quota"),
        },
        "spec": {"hard": hard},
    }


def limit_range(shop: Shop) -> dict:
    resources = container_resources(shop)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "name": "shop",
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "quota"),
        },
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": resources["limits"],
                    "defaultRequest": resources["requests"],
                }
            ]
        },
    }
