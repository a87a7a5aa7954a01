"""How requests find a shop: its entry in the gateway's route table (and the ConfigMap
that holds the table), and an Ingress per host."""

from __future__ import annotations

from shopfleet.kit.contracts.routes import Route, RouteTableDoc
from shopfleet_operator.build.names import LABEL_PART, MANAGED_BY, dedicated_namespace, labels
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop


def route(shop: Shop) -> Route:
    spec = shop.spec
    return Route(
        hosts=list(spec.hosts),
        tier=spec.tier,
        namespace=dedicated_namespace(shop) if spec.tier == "dedicated" else None,
        suspended=spec.suspended,
        **({"suspended_message": spec.suspended_message} if spec.suspended_message else {}),
        requests_per_minute=spec.quotas.requests_per_minute,
    )


def with_route(doc: RouteTableDoc, slug: str, entry: Route | None) -> RouteTableDoc:
    """The table with `slug`'s route set (or removed when `entry` is None)."""
    shops = dict(doc.shops)
    if entry is None:
        shops.pop(slug, None)
    else:
        shops[slug] = entry
    return RouteTableDoc(shops=dict(sorted(shops.items())))


def route_document(doc: RouteTableDoc) -> str:
    import orjson

    return orjson.dumps(doc.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode()


def route_configmap(doc: RouteTableDoc, config: Config) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config.routes_configmap,
            "namespace": config.namespace,
            "labels": {**MANAGED_BY, LABEL_PART: "routes"},
        },
        "data": {config.routes_key: route_document(doc)},
    }


# ---- the Ingresses (either tier: the gateway routes by host) ---------------------------


def ingresses(shop: Shop, config: Config) -> list[dict]:
    """One Ingress per host, to the gateway (which routes by host)."""
    found = []
    for host in shop.spec.hosts:
        spec: dict = {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": config.gateway_service,
                                        "port": {"number": config.gateway_port},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        }
        if config.ingress_class:
            spec["ingressClassName"] = config.ingress_class
        name = f"shop-{shop.name}-{host}"[:253].rstrip(".-")
        metadata = {"name": name, "namespace": config.namespace, "labels": labels(shop, "ingress")}
        # TLS not configured is null (removed by the merge patch): turning TLS off, or
        # switching issuers, leaves no stale tls or cert-manager annotation behind.
        spec["tls"] = None
        metadata["annotations"] = tls_annotations(config)
        if config.tls:
            secret = config.tls_secret or f"{name[:249].rstrip('.-')}-tls"
            spec["tls"] = [{"hosts": [host], "secretName": secret}]
        found.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": metadata,
                "spec": spec,
            }
        )
    return found


def tls_annotations(config: Config) -> dict[str, str | None]:
    """cert-manager's ingress-shim issues each Ingress's certificate into its tls Secret
    (from the issuer configured; the other one null: removed)."""
    return {
        "cert-manager.io/cluster-issuer": config.tls_cluster_issuer,
        "cert-manager.io/issuer": config.tls_issuer,
    }
