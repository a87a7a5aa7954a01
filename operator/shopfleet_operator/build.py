"""Pure builders: a Shop (and the operator's Config) → the Kubernetes objects it needs.

Nothing here talks to the API. Every builder returns plain dicts, ready to create or to
compare with what the cluster has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from decimal import Decimal

from shopfleet.gateway.routes import Route, RouteTableDoc
from shopfleet.kit.contracts.access import access_control
from shopfleet.services import SERVICES
from shopfleet_operator.config import Config
from shopfleet_operator.crd import ResourceAmounts, Shop

LABEL_SHOP = "shopfleet.io/shop"
LABEL_SHOP_NAMESPACE = "shopfleet.io/shop-namespace"
LABEL_PART = "shopfleet.io/part"
MANAGED_BY = {"app.kubernetes.io/managed-by": "shopfleet-operator"}

DEFAULT_REQUESTS = ResourceAmounts(cpu="100m", memory="128Mi")
DEFAULT_LIMITS = ResourceAmounts(cpu="1", memory="512Mi")

SECRET_STRIPE_KEY = "stripe-api-key"
SECRET_WEBHOOK = "stripe-webhook-secret"
SECRET_STATE_URL = "state-url"
SECRET_PUBSUB_URL = "pubsub-url"


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
    return f"shop-{shop.name}"


def home_namespace(shop: Shop, config: Config) -> str:
    """Where the shop's services (and so its secrets and components) run."""
    return dedicated_namespace(shop) if shop.spec.tier == "dedicated" else config.namespace


def secret_name(shop: Shop) -> str:
    return f"shop-{shop.name}"


def shop_url(shop: Shop, config: Config) -> str:
    if shop.spec.hosts:
        return f"{config.public_scheme}://{shop.spec.hosts[0]}/api/v1"
    base = config.platform_url or config.gateway_url
    return f"{base}/shops/{shop.name}/api/v1"


def endpoints(shop: Shop, config: Config) -> dict[str, str]:
    found = {"gateway": f"{config.gateway_url}/shops/{shop.name}/api/v1"}
    for host in shop.spec.hosts:
        found[host] = f"{config.public_scheme}://{host}/api/v1"
    if shop.spec.tier == "dedicated":
        ns = dedicated_namespace(shop)
        for name in services():
            found[name] = f"http://{name}.{ns}.svc"
    return found


# ---- the route table ------------------------------------------------------------------


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


# ---- shared by both tiers -------------------------------------------------------------


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
        found.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": f"shop-{shop.name}-{host}"[:253].rstrip(".-"),
                    "namespace": config.namespace,
                    "labels": labels(shop, "ingress"),
                },
                "spec": spec,
            }
        )
    return found


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def shop_secret(shop: Shop, config: Config, values: dict[str, str]) -> dict:
    """The shop's own Secret (Stripe keys, store URLs), read through Dapr's secret store."""
    data = dict(values)
    if shop.spec.state_store == "postgresql":
        data[SECRET_STATE_URL] = config.postgres_url
    if shop.spec.tier == "dedicated":
        data[SECRET_PUBSUB_URL] = config.rabbitmq_url
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(shop),
            "namespace": home_namespace(shop, config),
            "labels": labels(shop, "secret"),
        },
        "type": "Opaque",
        "data": {key: _b64(value) for key, value in sorted(data.items())},
    }


def _component(
    shop: Shop, namespace: str, name: str, type_: str, metadata: list[dict], scopes: list[str]
) -> dict:
    body: dict = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(shop, "dapr")},
        "spec": {"type": type_, "version": "v1", "metadata": metadata},
        "auth": {"secretStore": "kubernetes"},
    }
    if scopes:
        body["scopes"] = scopes
    return body


def _state_metadata(shop: Shop, config: Config) -> tuple[str, list[dict]]:
    if shop.spec.state_store == "postgresql":
        return "state.postgresql", [
            {
                "name": "connectionString",
                "secretKeyRef": {"name": secret_name(shop), "key": SECRET_STATE_URL},
            },
            {"name": "tableName", "value": f"state_{shop.name.replace('-', '_')}"},
        ]
    return "state.redis", [
        {"name": "redisHost", "value": config.redis_host},
        {"name": "keyPrefix", "value": "name"},
    ]


def shared_components(shop: Shop, config: Config) -> list[dict]:
    """A shared-tier shop's Dapr state store, scoped to the pooled services."""
    type_, metadata = _state_metadata(shop, config)
    if shop.spec.state_store == "redis":
        metadata = [*metadata[:1], {"name": "keyPrefix", "value": shop.name}]
    return [
        _component(shop, config.namespace, f"shop-{shop.name}-state", type_, metadata, services())
    ]


# ---- dedicated tier -------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def times(quantity: str, factor: int) -> str:
    """`500m` × 4 = `2000m`; the unit is kept."""
    number, unit = _QUANTITY.match(quantity).groups()  # type: ignore[union-attr]
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


def namespace(shop: Shop) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": dedicated_namespace(shop), "labels": labels(shop, "namespace")},
    }


def service_objects(shop: Shop, config: Config, name: str) -> list[dict]:
    """ServiceAccount, Deployment and Service of one of a dedicated shop's services."""
    ns = dedicated_namespace(shop)
    selector = {"app.kubernetes.io/name": name, LABEL_SHOP: shop.name}
    meta_labels = {**labels(shop, "service"), "app.kubernetes.io/name": name}
    port = config.service_port
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": meta_labels},
        "spec": {
            "replicas": shop.spec.resources.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**meta_labels, **selector},
                    "annotations": {
                        "dapr.io/enabled": "true",
                        "dapr.io/app-id": name,
                        "dapr.io/app-port": str(port),
                        "dapr.io/config": config.dapr_config,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(config.metrics_port),
                        "prometheus.io/path": "/metrics",
                        **(
                            {"dapr.io/app-token-secret": callers_secret_name(shop)}
                            if config.platform_token
                            else {}
                        ),
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": name,
                            "image": config.image,
                            "args": ["serve", name],
                            "ports": [
                                {"name": "http", "containerPort": port},
                                {"name": "metrics", "containerPort": config.metrics_port},
                            ],
                            "env": [
                                {"name": "SHOPFLEET_SHOP", "value": shop.name},
                                {"name": "SHOPFLEET_BLOCKS", "value": "dapr"},
                                {"name": "SHOPFLEET_METRICS_HOST", "value": "0.0.0.0"},
                                {
                                    "name": "SHOPFLEET_METRICS_PORT",
                                    "value": str(config.metrics_port),
                                },
                                *_service_token_env(shop, config),
                            ],
                            "readinessProbe": {
                                **probe,
                                "httpGet": {"path": "/readyz", "port": "http"},
                            },
                            "livenessProbe": probe,
                            "resources": container_resources(shop),
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "runAsNonRoot": True,
                                "readOnlyRootFilesystem": True,
                            },
                        }
                    ],
                },
            },
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": meta_labels},
        },
        deployment,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": meta_labels},
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]


def dedicated_components(shop: Shop, config: Config) -> list[dict]:
    ns = dedicated_namespace(shop)
    type_, metadata = _state_metadata(shop, config)
    return [
        _component(shop, ns, "statestore", type_, metadata, []),
        _component(
            shop,
            ns,
            "pubsub",
            "pubsub.rabbitmq",
            [
                {
                    "name": "connectionString",
                    "secretKeyRef": {"name": secret_name(shop), "key": SECRET_PUBSUB_URL},
                },
                {"name": "durable", "value": "true"},
            ],
            [],
        ),
        _component(shop, ns, "secretstore", "secretstores.kubernetes", [], []),
    ]


def dapr_configuration(shop: Shop, config: Config) -> dict:
    """The Configuration the shop's sidecars name (`dapr.io/config`): Prometheus metrics,
    and Dapr's built-in secret store closed to the apps, as on the platform."""
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {
            "name": config.dapr_config,
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "dapr"),
        },
        "spec": {
            "metrics": {"enabled": True},
            "secrets": {"scopes": [{"storeName": "kubernetes", "defaultAccess": "deny"}]},
            # The platform's gateway calls in from the platform namespace; the shop's own
            # services call each other inside this one.
            "accessControl": access_control(
                lambda app: config.namespace if app == "gateway" else dedicated_namespace(shop)
            ),
        },
    }


def callers_secret_name(shop: Shop) -> str:
    return f"{secret_name(shop)}-callers"


def _caller_token(shop: Shop, config: Config, purpose: str) -> str:
    """A dedicated shop's own credential, derived from the platform's: stable across
    reconciles (nothing to read back), different per shop and purpose, and revealing
    nothing of the platform credential it comes from."""
    assert config.platform_token is not None
    message = f"{shop.name}/{purpose}".encode()
    return hmac.new(config.platform_token.encode(), message, hashlib.sha256).hexdigest()


def callers_secret(shop: Shop, config: Config) -> dict:
    """The tokens of a dedicated shop's callers: `token`, which each sidecar sends its app
    (Dapr's app-token-secret), and `service-token`, which its services add to their calls."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": callers_secret_name(shop),
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "secret"),
        },
        "type": "Opaque",
        "data": {
            "token": _b64(_caller_token(shop, config, "app-token")),
            "service-token": _b64(_caller_token(shop, config, "service-token")),
        },
    }


def _service_token_env(shop: Shop, config: Config) -> list[dict]:
    if not config.platform_token:
        return []  # no credential to derive from: service-to-service routes stay closed
    ref = {"name": callers_secret_name(shop), "key": "service-token"}
    return [{"name": "SHOPFLEET_SERVICE_TOKEN", "valueFrom": {"secretKeyRef": ref}}]


def network_policy(shop: Shop, config: Config) -> dict:
    """Only the gateway (and the shop's own pods, sidecar to sidecar) get in; and
    Prometheus, from anywhere in the cluster, to the metrics port alone."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "only-gateway",
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "network"),
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": config.namespace}
                            },
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": config.gateway_service}
                            },
                        },
                        {"podSelector": {}},
                    ]
                },
                {"ports": [{"protocol": "TCP", "port": config.metrics_port}]},
            ],
        },
    }


def resource_quota(shop: Shop) -> dict:
    pods = shop.spec.resources.replicas * len(services())
    resources = container_resources(shop)
    # Room for a rolling update: twice the steady state.
    hard = {"pods": str(2 * pods)}
    for side in ("requests", "limits"):
        for resource, amount in resources[side].items():
            hard[f"{side}.{resource}"] = times(amount, 2 * pods)
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


def dedicated_objects(shop: Shop, config: Config) -> list[dict]:
    """The namespace first, then everything in it."""
    objects = [namespace(shop), resource_quota(shop), limit_range(shop)]
    objects.append(network_policy(shop, config))
    objects.extend(dedicated_components(shop, config))
    objects.append(dapr_configuration(shop, config))
    if config.platform_token:
        objects.append(callers_secret(shop, config))
    for name in services():
        objects.extend(service_objects(shop, config, name))
    return objects


def children(shop: Shop, config: Config, secret_values: dict[str, str]) -> list[dict]:
    """Every object the shop should have (the route table aside), in creation order."""
    objects: list[dict] = []
    if shop.spec.tier == "dedicated":
        objects.extend(dedicated_objects(shop, config))
    else:
        objects.extend(shared_components(shop, config))
    objects.append(shop_secret(shop, config, secret_values))
    objects.extend(ingresses(shop, config))
    return objects
