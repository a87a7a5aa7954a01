"""The names and labels a shop's objects carry, where they live, and the claim on its name."""

from __future__ import annotations

from shopfleet.kit.contracts.secrets import SHOP_SECRET_NAME
from shopfleet.services import SERVICES
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop

LABEL_SHOP = "shopfleet.io/shop"
LABEL_SHOP_NAMESPACE = "shopfleet.io/shop-namespace"
LABEL_PART = "shopfleet.io/part"
MANAGED_BY = {"app.kubernetes.io/managed-by": "shopfleet-operator"}


def services() -> list[str]:
    return list(SERVICES)


def labels(shop: Shop, part: str) -> dict[str, str]:
    return {
        **MANAGED_BY,
        LABEL_SHOP: shop.name,
        LABEL_SHOP_NAMESPACE: shop.namespace,
        LABEL_PART: part,
    }


def owner_labels(shop: Shop) -> dict[str, str]:
    """What every child of the shop carries (to find them all again)."""
    return {LABEL_SHOP: shop.name, LABEL_SHOP_NAMESPACE: shop.namespace}


def dedicated_namespace(shop: Shop) -> str:
    return dedicated_namespace_of(shop.name)


def dedicated_namespace_of(shop_name: str) -> str:
    return f"shop-{shop_name}"


def home_namespace(shop: Shop, config: Config) -> str:
    """Where the shop's services (and so its secrets and components) run."""
    return dedicated_namespace(shop) if shop.spec.tier == "dedicated" else config.namespace


def secret_name(shop: Shop) -> str:
    return SHOP_SECRET_NAME.format(shop=shop.name)


def shop_url(shop: Shop, config: Config) -> str:
    if shop.spec.hosts:
        return f"{config.scheme}://{shop.spec.hosts[0]}/api/v1"
    base = config.platform_url or config.gateway_url
    return f"{base}/shops/{shop.name}/api/v1"


def endpoints(shop: Shop, config: Config) -> dict[str, str]:
    found = {"gateway": f"{config.gateway_url}/shops/{shop.name}/api/v1"}
    for host in shop.spec.hosts:
        found[host] = f"{config.scheme}://{host}/api/v1"
    if shop.spec.tier == "dedicated":
        ns = dedicated_namespace(shop)
        for name in services():
            found[name] = f"http://{name}.{ns}.svc"
    return found


# The claim on a shop's name (handlers/names.py): who holds it, in the operator's namespace.
CLAIM_PREFIX = "shop-name-"
ANNOTATION_SHOP_UID = "shopfleet.io/shop-uid"


def name_claim(name: str, namespace: str, uid: str, config: Config) -> dict:
    """The Lease that says the Shop `namespace/name` (this uid) holds the name `name`."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": f"{CLAIM_PREFIX}{name}",
            "namespace": config.namespace,
            "labels": {
                **MANAGED_BY,
                LABEL_SHOP: name,
                LABEL_SHOP_NAMESPACE: namespace,
                LABEL_PART: "name-claim",
            },
            "annotations": {ANNOTATION_SHOP_UID: uid},
        },
        "spec": {"holderIdentity": f"{namespace}/{name}"},
    }
