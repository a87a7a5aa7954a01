"""Pure builders: a Shop (and the operator's Config) → the Kubernetes objects it needs.

Nothing here talks to the API. Every builder returns plain dicts, ready to create or to
compare with what the cluster has.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from shopfleet.kit.contracts.access import access_control
from shopfleet.kit.contracts.credentials import (
    APP_TOKEN,
    SERVICE_TOKEN,
    SHOP_PLATFORM_CREDENTIAL,
    derived_credential,
)
from shopfleet.kit.contracts.routes import Route, RouteTableDoc
from shopfleet.kit.contracts.secrets import (
    PLATFORM_SECRET,
    SHOP_SECRET_NAME,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
)
from shopfleet.kit.tenant_data import USAGE_SERVICES
from shopfleet.services import SERVICES
from shopfleet_operator import quantity
from shopfleet_operator.config import Config
from shopfleet_operator.crd import ResourceAmounts, Shop

LABEL_SHOP = "shopfleet.io/shop"
LABEL_SHOP_NAMESPACE = "shopfleet.io/shop-namespace"
LABEL_PART = "shopfleet.io/part"
MANAGED_BY = {"app.kubernetes.io/managed-by": "shopfleet-operator"}

DEFAULT_REQUESTS = ResourceAmounts(cpu="100m", memory="128Mi")
DEFAULT_LIMITS = ResourceAmounts(cpu="1", memory="512Mi")

# The shop's Secret holds its Stripe keys under the names payments reads (one definition).
SECRET_STRIPE_KEY = STRIPE_SECRET_KEY
SECRET_WEBHOOK = STRIPE_WEBHOOK_SECRET
SECRET_STATE_URL = "state-url"
SECRET_PUBSUB_URL = "pubsub-url"
SECRET_REDIS_PASSWORD = "redis-password"  # in the chart's connections Secret, as there
SECRET_REDIS_USERNAME = "redis-username"  # a dedicated shop's own Redis ACL user

# The services that use a Dapr state store / secret store at all: the scopes of the
# platform's own `statestore` and `secretstore` (components/, whose scopes a test derives
# from the code; tests/unit/operator checks these equal them). A shop's components are
# loaded only by these, never by every pooled sidecar.
STATE_USERS = ("cart", "identity", "payments")
SECRET_USERS = ("identity", "payments")


def secrets_read(shop: Shop) -> dict[str, list[str]]:
    """The Secrets each of SECRET_USERS reads through the secret store, in its namespace:
    identity its signing-key encryption key, payments the shop's Stripe keys."""
    return {"identity": [PLATFORM_SECRET], "payments": [secret_name(shop)]}


# The services with platform endpoints (`kit.auth.PlatformCaller`), which the gateway
# calls with the platform credential: in a dedicated shop, with the shop's derived one.
# Identity for the tenant's bootstrap, catalog and orders for its usage against its quotas
# (`GET USAGE_PATH`). The others' platform endpoints (purging the shop's rows) are not
# needed there: a dedicated shop's databases are dropped whole with `Delete`.
PLATFORM_ENDPOINT_SERVICES = ("identity", *USAGE_SERVICES)


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


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def shop_secret(
    shop: Shop, config: Config, values: dict[str, str], account: TenantAccount | None = None
) -> dict:
    """The shop's own Secret (Stripe keys, store URLs), read through Dapr's secret store. A
    dedicated shop's holds its own account's credentials (`account`), never the platform's."""
    data = dict(values)
    if shop.spec.tier == "dedicated":
        if account is None:
            raise ValueError("a dedicated shop's Secret needs the shop's own account")
        data[SECRET_PUBSUB_URL] = pubsub_url(config, account)
        data[SECRET_POSTGRES_PASSWORD] = account.password
        if shop.spec.state_store == "postgresql":
            data[SECRET_STATE_URL] = state_dsn(shop, config, account)
        else:
            # Its own statestore's Redis ACL user (handlers/accounts.py).
            data[SECRET_REDIS_USERNAME] = account.name
            data[SECRET_REDIS_PASSWORD] = account.password
    elif shop.spec.state_store == "postgresql":
        data[SECRET_STATE_URL] = config.postgres_url
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
    shop: Shop,
    namespace: str,
    name: str,
    type_: str,
    metadata: list[dict],
    scopes: list[str],
    *,
    ignore_errors: bool = False,
) -> dict:
    body: dict = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(shop, "dapr")},
        "spec": {"type": type_, "version": "v1", "metadata": metadata},
        "auth": {"secretStore": "kubernetes"},
    }
    if ignore_errors:
        body["spec"]["ignoreErrors"] = True
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
    # The chart turns Redis auth on by default: the password comes from a Secret of the
    # component's own namespace (Dapr resolves secretKeyRefs there): the chart's
    # connections Secret on the platform, the shop's own Secret in a dedicated namespace.
    # A missing key resolves to no password (Redis without auth).
    if shop.spec.tier == "dedicated":
        # As the shop's own ACL user, on keys of a prefix of its own (the pattern the user
        # is limited to).
        own = {"name": secret_name(shop)}
        return "state.redis", [
            {"name": "redisHost", "value": config.redis_host},
            {"name": "redisUsername", "secretKeyRef": {**own, "key": SECRET_REDIS_USERNAME}},
            {"name": "redisPassword", "secretKeyRef": {**own, "key": SECRET_REDIS_PASSWORD}},
            {"name": "keyPrefix", "value": redis_key_prefix(shop.name, config)},
        ]
    return "state.redis", [
        {"name": "redisHost", "value": config.redis_host},
        {
            "name": "redisPassword",
            "secretKeyRef": {"name": config.connections_secret, "key": SECRET_REDIS_PASSWORD},
        },
        {"name": "keyPrefix", "value": "name"},
    ]


def shared_components(shop: Shop, config: Config) -> list[dict]:
    """A shared-tier shop's Dapr state store, scoped to the pooled services that use a state
    store, and `ignoreErrors`: one shop's broken store must not stop their sidecars."""
    type_, metadata = _state_metadata(shop, config)
    if shop.spec.state_store == "redis":
        metadata = [
            *(item for item in metadata if item["name"] != "keyPrefix"),
            {"name": "keyPrefix", "value": shop.name},
        ]
    name = f"shop-{shop.name}-state"
    return [
        _component(
            shop, config.namespace, name, type_, metadata, list(STATE_USERS), ignore_errors=True
        )
    ]


# ---- dedicated tier -------------------------------------------------------------------

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


# The password of the shop's own PostgreSQL role, in a dedicated shop's Secret: its
# services' databases are on the platform's server, owned by that role.
SECRET_POSTGRES_PASSWORD = "postgres-password"

# Writable scratch space under the read-only root file system (as the chart's pods have).
SCRATCH_MOUNTS = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "data", "mountPath": "/data"}]


def serve_command(config: Config, name: str) -> list[str]:
    """What the chart's pooled services run too (charts/shopfleet/templates/services.yaml)."""
    return [
        "shopfleet",
        "serve",
        name,
        "--no-migrate",
        "--port",
        str(config.service_port),
        "--graceful-timeout",
        str(config.graceful_timeout_seconds),
    ]


def termination_grace_seconds(config: Config) -> int:
    """The sidecar's blocked, then graceful shutdown, and a margin (as the chart derives it)."""
    return config.dapr_block_shutdown_seconds + config.dapr_graceful_shutdown_seconds + 5


def _pg_identifier(name: str) -> str:
    """`name` with `_` for `-`, within PostgreSQL's 63 characters (a hash when longer)."""
    name = name.replace("-", "_")
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


def database_name(shop: Shop, config: Config, service: str) -> str:
    """`<prefix><shop>_<service>`, within PostgreSQL's 63 characters (a hash when longer)."""
    return shop_database(shop.name, config, service)


def shop_database(shop_name: str, config: Config, part: str) -> str:
    return _pg_identifier(f"{config.postgres_database_prefix}{shop_name}_{part}")


STATE_DATABASE = "state"  # a dedicated shop's state.postgresql database: `<prefix><shop>_state`


def shop_databases(shop_name: str, config: Config, *, state: bool = True) -> list[str]:
    """The databases of a dedicated shop: one per service, and its state store's."""
    parts = [*services(), *([STATE_DATABASE] if state else [])]
    return [shop_database(shop_name, config, part) for part in parts]


@dataclass(frozen=True)
class TenantAccount:
    """A dedicated shop's own PostgreSQL role and RabbitMQ user and vhost (one name for the
    three), with the password the operator generated for it."""

    name: str
    password: str


def tenant_account_name(shop_name: str, config: Config) -> str:
    """`<prefix><shop>` (the database prefix: one run's or release's names share it)."""
    return _pg_identifier(f"{config.postgres_database_prefix}{shop_name}")


def redis_key_prefix(shop_name: str, config: Config) -> str:
    """A dedicated shop's state `keyPrefix`: its account's name, which no other shop's
    prefix equals (shared shops' are their bare names, which have no `_`)."""
    return tenant_account_name(shop_name, config)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def redis_key_pattern(shop_name: str, config: Config) -> str:
    """Every Redis key of a dedicated shop's state store: `<keyPrefix>||<key>`, after the
    prefix every key of the platform has (`config.redis_acl_key_prefix`, empty with daprd)."""
    prefix = f"{config.redis_acl_key_prefix}{redis_key_prefix(shop_name, config)}"
    return f"{_glob_escape(prefix)}||*"


def redis_acl_rules(shop_name: str, config: Config, password: str) -> list[str]:
    """`ACL SETUSER` rules of a dedicated shop's Redis user, from scratch (`reset`): its
    password, its keys alone, no Pub/Sub channel, and the commands of a state store: all
    but the dangerous ones (KEYS, FLUSHALL, CONFIG, ACL, DEBUG, ...) and the two that list
    keys whatever the pattern (SCAN, RANDOMKEY); INFO stays, as daprd's state.redis reads
    the replication section at start."""
    return [
        "reset",
        "on",
        f">{password}",
        f"~{redis_key_pattern(shop_name, config)}",
        "resetchannels",
        "+@all",
        "-@dangerous",
        "+info",
        "-scan",
        "-randomkey",
    ]


def account_secret_name(shop_name: str) -> str:
    return f"{SHOP_SECRET_NAME.format(shop=shop_name)}-account"


ACCOUNT_USERNAME, ACCOUNT_PASSWORD = "username", "password"


def account_secret(shop: Shop, config: Config, account: TenantAccount) -> dict:
    """Where the operator keeps a dedicated shop's generated password: its own namespace,
    which no tenant reads."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": account_secret_name(shop.name),
            "namespace": config.namespace,
            "labels": labels(shop, "account"),
        },
        "type": "Opaque",
        "data": {ACCOUNT_USERNAME: _b64(account.name), ACCOUNT_PASSWORD: _b64(account.password)},
    }


def pubsub_url(config: Config, account: TenantAccount) -> str:
    """The platform broker's address (`config.rabbitmq_url`), as the shop's user, on its vhost."""
    broker = urlsplit(config.rabbitmq_url)
    port = f":{broker.port}" if broker.port else ""
    user = f"{quote(account.name, safe='')}:{quote(account.password, safe='')}"
    return f"{broker.scheme}://{user}@{broker.hostname}{port}/{quote(account.name, safe='')}"


def state_dsn(shop: Shop, config: Config, account: TenantAccount) -> str:
    """The shop's state.postgresql connection string (libpq key=value), as its own role."""
    database = shop_database(shop.name, config, STATE_DATABASE)
    return (
        f"host={config.postgres_host} port={config.postgres_port} user={account.name} "
        f"password={account.password} dbname={database}"
    )


# Set by the builders themselves: the chart's common env never overrides these.
_OWN_ENV = (
    "SHOPFLEET_SHOP",
    "SHOPFLEET_PLATFORM_TOKEN",
    "SHOPFLEET_SERVICE_TOKEN",
    "SHOPFLEET_PG_PASSWORD",
)


def common_env(config: Config) -> list[dict]:
    """What every shopfleet container of the chart gets (`config.service_env`: log level
    and format, call timeout, public URL, platform.env, ...), with Dapr blocks and this
    pod's metrics port whatever it says. No credentials: those are the shop's own."""
    values = {"SHOPFLEET_BLOCKS": "dapr", "SHOPFLEET_DATA_DIR": "/data"}
    for name, value in config.service_env:
        if name not in _OWN_ENV and not name.endswith("_DATABASE_URL"):
            values[name] = value
    values.update(
        {
            "SHOPFLEET_BLOCKS": "dapr",
            "SHOPFLEET_METRICS_HOST": "0.0.0.0",
            "SHOPFLEET_METRICS_PORT": str(config.metrics_port),
        }
    )
    return [{"name": name, "value": value} for name, value in values.items()]


def database_env(shop: Shop, config: Config, service: str) -> list[dict]:
    """The service's own database on the platform's PostgreSQL, as the shop's own role; the
    password from the shop's Secret (`shop_secret`), put in the URL by the kubelet."""
    options = f"?{config.postgres_options}" if config.postgres_options else ""
    url = (
        f"postgresql+asyncpg://{tenant_account_name(shop.name, config)}:$(SHOPFLEET_PG_PASSWORD)"
        f"@{config.postgres_host}:{config.postgres_port}/"
        f"{database_name(shop, config, service)}{options}"
    )
    ref = {"name": secret_name(shop), "key": SECRET_POSTGRES_PASSWORD}
    return [
        {"name": "SHOPFLEET_PG_PASSWORD", "valueFrom": {"secretKeyRef": ref}},
        {"name": f"SHOPFLEET_{service.upper()}_DATABASE_URL", "value": url},
    ]


def service_objects(shop: Shop, config: Config, name: str) -> list[dict]:
    """ServiceAccount, Deployment and Service of one of a dedicated shop's services."""
    ns = dedicated_namespace(shop)
    selector = {"app.kubernetes.io/name": name, LABEL_SHOP: shop.name}
    meta_labels = {**labels(shop, "service"), "app.kubernetes.io/name": name}
    port = config.service_port
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    deployment: dict[str, Any] = {
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
                        # The chart's sidecar annotations (log format, health checks, body
                        # size, concurrency, sidecar resources), then this pod's own.
                        **dict(config.dapr_annotations),
                        "dapr.io/enabled": "true",
                        "dapr.io/app-id": name,
                        "dapr.io/app-port": str(port),
                        "dapr.io/config": config.dapr_config,
                        # The sidecar outlives the app's drain (requests, then the outbox).
                        "dapr.io/graceful-shutdown-seconds": str(
                            config.dapr_graceful_shutdown_seconds
                        ),
                        "dapr.io/block-shutdown-duration": f"{config.dapr_block_shutdown_seconds}s",
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
                    "automountServiceAccountToken": True,  # daprd reads Secrets with it
                    # Pod Security "restricted" for the injected sidecar too: it sets no
                    # seccomp profile of its own, the pod's applies.
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": name,
                            "image": config.image,
                            # `command`, not `args`: the image's ENTRYPOINT is already
                            # `shopfleet serve`. Migrations ran in the init container.
                            "command": serve_command(config, name),
                            "ports": [
                                {"name": "http", "containerPort": port},
                                {"name": "metrics", "containerPort": config.metrics_port},
                            ],
                            "env": [
                                {"name": "SHOPFLEET_SHOP", "value": shop.name},
                                *common_env(config),
                                *_service_token_env(shop, config, name),
                                *database_env(shop, config, name),
                            ],
                            "readinessProbe": {
                                **probe,
                                "httpGet": {"path": "/readyz", "port": "http"},
                            },
                            # As the chart's pooled services: liveness only once the app
                            # has started (its start waits for its sidecar, which may
                            # take longer than liveness allows: 3 x 10 s).
                            "startupProbe": {
                                **probe,
                                "periodSeconds": 2,
                                "failureThreshold": 60,
                            },
                            "livenessProbe": {**probe, "failureThreshold": 3},
                            "resources": container_resources(shop),
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "runAsNonRoot": True,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "volumeMounts": SCRATCH_MOUNTS,
                        }
                    ],
                    "terminationGracePeriodSeconds": termination_grace_seconds(config),
                    "initContainers": [
                        {
                            "name": "migrate",
                            "image": config.image,
                            "command": ["shopfleet", "migrate", name],
                            "env": [*common_env(config), *database_env(shop, config, name)],
                            "resources": container_resources(shop),
                            "volumeMounts": SCRATCH_MOUNTS,
                        }
                    ],
                    "volumes": [{"name": m["name"], "emptyDir": {}} for m in SCRATCH_MOUNTS],
                },
            },
        },
    }
    pod = deployment["spec"]["template"]["spec"]
    # The init container is as locked down as the app: the app's securityContext, copied.
    for init in pod["initContainers"]:
        init["securityContext"] = copy.deepcopy(pod["containers"][0]["securityContext"])
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


# A dedicated shop's pub/sub behaves as the platform's (components/pubsub-rabbitmq.yaml,
# whose reasons are written there; tests/unit/operator checks the two agree): durable
# queues that outlive their consumers, persistent messages, publisher confirms, manual
# acks, dead-lettering, bounded queues.
PUBSUB_METADATA: tuple[tuple[str, str], ...] = (
    ("durable", "true"),
    ("deletedWhenUnused", "false"),
    ("deliveryMode", "2"),
    ("publisherConfirm", "true"),
    ("autoAck", "false"),
    ("requeueInFailure", "false"),
    ("enableDeadLetter", "true"),
    ("maxLen", "200000"),
    ("maxLenBytes", "536870912"),
    ("concurrencyMode", "parallel"),
    ("prefetchCount", "20"),
    ("exchangeKind", "fanout"),
    ("reconnectWaitSeconds", "5"),
    ("heartBeat", "10s"),
    ("clientName", "{podName}"),
)
DEDICATED_CONSUMER_ID = "{namespace}"


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
                # Queues of the shop's own: daprd makes `{namespace}` `<namespace>.<app-id>`,
                # so the queue is `shop-<name>.<app-id>-...`, never a pooled service's
                # `<app-id>-<topic>`; and a `{namespace}` anywhere in the metadata scopes
                # the topics too (published and subscribed as `<namespace><topic>`), so the
                # shop's events and the platform's never meet on the shared broker.
                {"name": "consumerID", "value": DEDICATED_CONSUMER_ID},
                *({"name": name, "value": value} for name, value in PUBSUB_METADATA),
            ],
            [],
        ),
        # Read with the pod's ServiceAccount token (hence automountServiceAccountToken),
        # by the services that read secrets only.
        _component(shop, ns, "secretstore", "secretstores.kubernetes", [], list(SECRET_USERS)),
    ]


def dapr_configuration(shop: Shop, config: Config) -> dict:
    """The Configuration the shop's sidecars name (`dapr.io/config`): the platform's spec
    (the chart's: tracing, metrics, Dapr's built-in secret store closed to the apps), with
    the shop's own access control."""
    spec = (
        json.loads(config.dapr_configuration)
        if config.dapr_configuration
        else {
            "metrics": {"enabled": True},
            "secrets": {"scopes": [{"storeName": "kubernetes", "defaultAccess": "deny"}]},
        }
    )
    # The platform's gateway calls in from the platform namespace; the shop's own services
    # call each other inside this one.
    spec["accessControl"] = access_control(
        lambda app: config.namespace if app == "gateway" else dedicated_namespace(shop)
    )
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {
            "name": config.dapr_config,
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "dapr"),
        },
        "spec": spec,
    }


RESILIENCY_NAME = "shopfleet"  # as components/resiliency.yaml names the platform's


def resiliency(shop: Shop, config: Config) -> list[dict]:
    """The platform's Resiliency (timeouts, retries, circuit breakers), for the shop's own
    services; none when the operator was given none."""
    if not config.dapr_resiliency:
        return []
    return [
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Resiliency",
            "metadata": {
                "name": RESILIENCY_NAME,
                "namespace": dedicated_namespace(shop),
                "labels": labels(shop, "dapr"),
            },
            "scopes": services(),
            "spec": json.loads(config.dapr_resiliency),
        }
    ]


def callers_secret_name(shop: Shop) -> str:
    return f"{secret_name(shop)}-callers"


def _caller_token(shop: Shop, config: Config, purpose: str) -> str:
    """A dedicated shop's own credential, derived from the platform's: stable across
    reconciles (nothing to read back), different per shop and purpose, and revealing
    nothing of the platform credential it comes from (kit/contracts/credentials.py)."""
    assert config.platform_token is not None
    return derived_credential(config.platform_token, shop.name, purpose)


def callers_secret(shop: Shop, config: Config) -> dict:
    """The tokens of a dedicated shop's callers: `token`, which each sidecar sends its app
    (Dapr's app-token-secret), `service-token`, which its services add to their calls, and
    `platform-token`, which the gateway offers the shop's identity for platform calls."""
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
            "token": _b64(_caller_token(shop, config, APP_TOKEN)),
            SERVICE_TOKEN: _b64(_caller_token(shop, config, SERVICE_TOKEN)),
            SHOP_PLATFORM_CREDENTIAL: _b64(_caller_token(shop, config, SHOP_PLATFORM_CREDENTIAL)),
        },
    }


def _service_token_env(shop: Shop, config: Config, service: str) -> list[dict]:
    if not config.platform_token:
        return []  # no credential to derive from: service-to-service routes stay closed
    ref = {"name": callers_secret_name(shop), "key": SERVICE_TOKEN}
    env = [{"name": "SHOPFLEET_SERVICE_TOKEN", "valueFrom": {"secretKeyRef": ref}}]
    if service in PLATFORM_ENDPOINT_SERVICES:  # never the platform's own token
        ref = {"name": callers_secret_name(shop), "key": SHOP_PLATFORM_CREDENTIAL}
        env.append({"name": "SHOPFLEET_PLATFORM_TOKEN", "valueFrom": {"secretKeyRef": ref}})
    return env


def secret_reader_rbac(shop: Shop, service: str) -> list[dict]:
    """Role and RoleBinding that let `service`'s ServiceAccount `get` the Secrets it reads
    through Dapr's Kubernetes secret store (with the pod's token), by name; nothing for a
    service that reads none. The operator holds `get` on secrets itself (its ClusterRole),
    which is what Kubernetes' escalation check asks of whoever creates these."""
    names = secrets_read(shop).get(service)
    if not names:
        return []
    ns = dedicated_namespace(shop)
    meta = {
        "name": f"{service}-secrets",
        "namespace": ns,
        "labels": {**labels(shop, "rbac"), "app.kubernetes.io/name": service},
    }
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": names,
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": copy.deepcopy(meta),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": meta["name"],
            },
            "subjects": [{"kind": "ServiceAccount", "name": service, "namespace": ns}],
        },
    ]


DAPR_INTERNAL_PORT = 50002  # daprd's sidecar-to-sidecar invocation port
DAPR_METRICS_PORT = 9090  # daprd's Prometheus port


def tcp(port: int) -> dict:
    return {"protocol": "TCP", "port": port}


def network_policy(shop: Shop, config: Config) -> dict:
    """Who may reach the shop's pods, and on which ports:

    - the platform's gateway (its pods' labels, in the platform namespace), and the shop's
      own pods, to the sidecars' invocation port: every call goes sidecar to sidecar;
    - Prometheus, from the monitoring namespace (any namespace when none is configured),
      to the apps' and the sidecars' metrics ports alone.
    """
    platform = {"matchLabels": {"kubernetes.io/metadata.name": config.namespace}}
    monitoring = (
        {"matchLabels": {"kubernetes.io/metadata.name": config.monitoring_namespace}}
        if config.monitoring_namespace
        else {}
    )
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
                            "namespaceSelector": platform,
                            "podSelector": {"matchLabels": config.gateway_labels},
                        },
                        {"podSelector": {}},
                    ],
                    "ports": [tcp(DAPR_INTERNAL_PORT)],
                },
                {
                    "from": [{"namespaceSelector": monitoring}],
                    "ports": [tcp(config.metrics_port), tcp(DAPR_METRICS_PORT)],
                },
            ],
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


def dedicated_objects(shop: Shop, config: Config) -> list[dict]:
    """The namespace first, then everything in it."""
    objects = [namespace(shop), resource_quota(shop, config), limit_range(shop)]
    objects.append(network_policy(shop, config))
    objects.extend(dedicated_components(shop, config))
    objects.append(dapr_configuration(shop, config))
    objects.extend(resiliency(shop, config))
    if config.platform_token:
        objects.append(callers_secret(shop, config))
    for name in services():
        objects.extend(secret_reader_rbac(shop, name))  # before its pods start
        objects.extend(service_objects(shop, config, name))
    return objects


def children(
    shop: Shop,
    config: Config,
    secret_values: dict[str, str],
    account: TenantAccount | None = None,
) -> list[dict]:
    """Every object the shop should have (the route table aside), in creation order: the
    shop's Secret before the components and pods that read it (a sidecar that starts
    before its component's Secret exists cannot start; a container whose env names a
    missing Secret waits in CreateContainerConfigError)."""
    secret = shop_secret(shop, config, secret_values, account)
    objects: list[dict] = []
    if shop.spec.tier == "dedicated":
        assert account is not None
        dedicated = dedicated_objects(shop, config)
        # Its namespace first (the Secret lives there), then the Secret, the record of the
        # shop's account (in the operator's namespace), then the rest.
        objects.extend([dedicated[0], secret, account_secret(shop, config, account)])
        objects.extend(dedicated[1:])
    else:
        objects.extend([secret, *shared_components(shop, config)])
    objects.extend(ingresses(shop, config))
    return objects
