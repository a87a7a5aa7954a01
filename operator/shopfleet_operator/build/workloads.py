"""One of a dedicated shop's services: its ServiceAccount, Deployment (the app, its
migrate init container, its Dapr sidecar's annotations) and Service."""

from __future__ import annotations

import copy
from typing import Any

from shopfleet.kit.contracts.credentials import SERVICE_TOKEN, SHOP_PLATFORM_CREDENTIAL
from shopfleet.kit.tenant_data import USAGE_SERVICES
from shopfleet_operator.build.accounts import database_name, tenant_account_name
from shopfleet_operator.build.names import LABEL_SHOP, dedicated_namespace, labels, secret_name
from shopfleet_operator.build.namespace import container_resources
from shopfleet_operator.build.secrets import SECRET_POSTGRES_PASSWORD, callers_secret_name
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop

# calls with the platform credential: in a dedicated shop, with the shop's derived one.
# Identity for the tenant's bootstrap, catalog and orders for its usage against its quotas
# (`GET USAGE_PATH`). The others' platform endpoints (purging the shop's rows) are not
# needed there: a dedicated shop's databases are dropped whole with `Delete`.
PLATFORM_ENDPOINT_SERVICES = ("identity", *USAGE_SERVICES)

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
                    "annotations": pod_annotations(shop, config, name),
                },
                "spec": pod_spec(shop, config, name),
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


def pod_annotations(shop: Shop, config: Config, name: str) -> dict[str, str]:
    """The chart's sidecar annotations (log format, health checks, body size, concurrency,
    sidecar resources), then this pod's own: Dapr's, and Prometheus'."""
    return {
        **dict(config.dapr_annotations),
        "dapr.io/enabled": "true",
        "dapr.io/app-id": name,
        "dapr.io/app-port": str(config.service_port),
        "dapr.io/config": config.dapr_config,
        # The sidecar outlives the app's drain (requests, then the outbox).
        "dapr.io/graceful-shutdown-seconds": str(config.dapr_graceful_shutdown_seconds),
        "dapr.io/block-shutdown-duration": f"{config.dapr_block_shutdown_seconds}s",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(config.metrics_port),
        "prometheus.io/path": "/metrics",
        **(
            {"dapr.io/app-token-secret": callers_secret_name(shop)} if config.platform_token else {}
        ),
    }


def pod_spec(shop: Shop, config: Config, name: str) -> dict[str, Any]:
    app = app_container(shop, config, name)
    return {
        "serviceAccountName": name,
        "automountServiceAccountToken": True,  # daprd reads Secrets with it
        # Pod Security "restricted" for the injected sidecar too: it sets no seccomp
        # profile of its own, the pod's applies.
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [app],
        "terminationGracePeriodSeconds": termination_grace_seconds(config),
        # The init container is as locked down as the app: the app's securityContext.
        "initContainers": [
            {
                **migrate_container(shop, config, name),
                "securityContext": copy.deepcopy(app["securityContext"]),
            }
        ],
        "volumes": [{"name": m["name"], "emptyDir": {}} for m in SCRATCH_MOUNTS],
    }


def app_container(shop: Shop, config: Config, name: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    return {
        "name": name,
        "image": config.image,
        # `command`, not `args`: the image's ENTRYPOINT is already `shopfleet serve`.
        # Migrations ran in the init container.
        "command": serve_command(config, name),
        "ports": [
            {"name": "http", "containerPort": config.service_port},
            {"name": "metrics", "containerPort": config.metrics_port},
        ],
        "env": [
            {"name": "SHOPFLEET_SHOP", "value": shop.name},
            *common_env(config),
            *_service_token_env(shop, config, name),
            *database_env(shop, config, name),
        ],
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        # As the chart's pooled services: liveness only once the app has started (its
        # start waits for its sidecar, which may take longer than liveness allows: 3 x 10 s).
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
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


def migrate_container(shop: Shop, config: Config, name: str) -> dict[str, Any]:
    """Runs the service's migrations before the app starts, with the app's resources."""
    return {
        "name": "migrate",
        "image": config.image,
        "command": ["shopfleet", "migrate", name],
        "env": [*common_env(config), *database_env(shop, config, name)],
        "resources": container_resources(shop),
        "volumeMounts": SCRATCH_MOUNTS,
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
