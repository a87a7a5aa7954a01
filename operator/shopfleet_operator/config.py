"""The operator's configuration, read once from the environment.

| variable | default | meaning |
| --- | --- | --- |
| `SHOPFLEET_PLATFORM_URL` | — | the gateway (its `/internal` API) that bootstraps tenants |
| `SHOPFLEET_PLATFORM_TOKEN` | — | the platform token for that API |
| `SHOPFLEET_OPERATOR_IMAGE` | `ghcr.io/shopfleet/shopfleet:latest` | dedicated shops' image |
| `SHOPFLEET_OPERATOR_NAMESPACE` | `shopfleet` | the platform namespace (gateway, pooled services) |
| `SHOPFLEET_OPERATOR_GATEWAY_SERVICE` | `gateway` | the gateway's Service (Ingress backend) |
| `SHOPFLEET_OPERATOR_GATEWAY_PORT` | `80` | its port |
| `SHOPFLEET_OPERATOR_ROUTES_CONFIGMAP` | `shopfleet-routes` | route table (key `routes.json`) |
| `SHOPFLEET_OPERATOR_INGRESS_CLASS` | — | `ingressClassName` of the shops' Ingresses |
| `SHOPFLEET_OPERATOR_TLS_CLUSTER_ISSUER` | — | TLS on shop Ingresses: cert-manager ClusterIssuer |
| `SHOPFLEET_OPERATOR_TLS_ISSUER` | — | … or a cert-manager Issuer (operator's namespace) |
| `SHOPFLEET_OPERATOR_TLS_SECRET` | — | … or an existing TLS Secret for every shop host |
| `SHOPFLEET_OPERATOR_PUBLIC_SCHEME` | https with TLS, else http | URL scheme in status (override) |
| `SHOPFLEET_OPERATOR_DAPR_CONFIG` | `shopfleet` | the Dapr Configuration of dedicated shops' pods |
| `SHOPFLEET_OPERATOR_REDIS_HOST` | `redis-master.shopfleet.svc:6379` | state store (redis) |
| `SHOPFLEET_OPERATOR_REDIS_PASSWORD` | — (no auth) | its password (the platform's) |
| `SHOPFLEET_OPERATOR_REDIS_ADMIN_USER` | — (`default`) | makes dedicated shops' ACL users |
| `SHOPFLEET_OPERATOR_REDIS_ADMIN_PASSWORD` | the password above | … its password |
| `SHOPFLEET_OPERATOR_REDIS_ACL_KEY_PREFIX` | — | before every state key (tests' doubles) |
| `SHOPFLEET_OPERATOR_CONNECTIONS_SECRET` | `shopfleet-connections` | the chart's Secret |
| `SHOPFLEET_OPERATOR_POSTGRES_URL` | `host=postgresql.shopfleet.svc …` | state (postgresql) |
| `SHOPFLEET_OPERATOR_POSTGRES_HOST` | `postgresql.shopfleet.svc` | dedicated shops' DBs: host |
| `SHOPFLEET_OPERATOR_POSTGRES_PORT` | `5432` | … port |
| `SHOPFLEET_OPERATOR_POSTGRES_USER` | `shopfleet` | … user |
| `SHOPFLEET_OPERATOR_POSTGRES_PASSWORD` | — | … its password |
| `SHOPFLEET_OPERATOR_POSTGRES_ADMIN_USER` | the user above | makes shops' roles and DBs |
| `SHOPFLEET_OPERATOR_POSTGRES_ADMIN_PASSWORD` | the password above | … its password |
| `SHOPFLEET_OPERATOR_POSTGRES_DATABASE_PREFIX` | `shopfleet_` | `<prefix><shop>_<service>` |
| `SHOPFLEET_OPERATOR_POSTGRES_OPTIONS` | — | asyncpg query options of those URLs (`ssl=require`) |
| `SHOPFLEET_OPERATOR_RABBITMQ_URL` | `amqp://rabbitmq.shopfleet.svc:5672` | pub/sub |
| `SHOPFLEET_OPERATOR_RABBITMQ_MANAGEMENT_URL` | `http://<its host>:15672` | shops' vhosts |
| `SHOPFLEET_OPERATOR_RABBITMQ_ADMIN_USER` | `guest` | … as this user (tag `administrator`) |
| `SHOPFLEET_OPERATOR_RABBITMQ_ADMIN_PASSWORD` | `guest` | … its password |
| `SHOPFLEET_OPERATOR_TIMER_INTERVAL` | `60` | seconds between drift checks of a shop |
| `SHOPFLEET_OPERATOR_PEERING_LIFETIME` | `30` | seconds a vanished replica still holds the lead |
| `SHOPFLEET_OPERATOR_BOOTSTRAP_CONCURRENCY` | `4` | tenant bootstraps in flight at once |
| `SHOPFLEET_OPERATOR_RETRY_DELAY` | `10` | seconds before retrying a temporary failure |
| `SHOPFLEET_OPERATOR_GRACEFUL_TIMEOUT_SECONDS` | `20` | dedicated services' `--graceful-timeout` |
| `SHOPFLEET_OPERATOR_DAPR_GRACEFUL_SHUTDOWN_SECONDS` | `30` | their sidecars' graceful shutdown |
| `SHOPFLEET_OPERATOR_DAPR_BLOCK_SHUTDOWN_SECONDS` | `30` | … and block-shutdown-duration |
| `SHOPFLEET_OPERATOR_GATEWAY_SELECTOR` | `…name=shopfleet,…` | gateway pods' labels |
| `SHOPFLEET_OPERATOR_MONITORING_NAMESPACE` | — (any) | where Prometheus scrapes from |
| `SHOPFLEET_OPERATOR_SERVICE_ENV` | `{}` | JSON `{NAME: value}`: the services' common env |
| `SHOPFLEET_OPERATOR_DAPR_ANNOTATIONS` | `{}` | JSON: the chart's sidecar annotations |
| `SHOPFLEET_OPERATOR_DAPR_CONFIGURATION` | — | JSON: the chart's Configuration spec |
| `SHOPFLEET_OPERATOR_DAPR_RESILIENCY` | — (none) | JSON: the chart's Resiliency spec |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


def _json_object(name: str, text: str) -> dict[str, str]:
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError(f"SHOPFLEET_OPERATOR_{name} must be a JSON object")
    return parsed


@dataclass(frozen=True)
class Config:
    platform_url: str | None = None
    platform_token: str | None = None
    image: str = "ghcr.io/shopfleet/shopfleet:latest"
    namespace: str = "shopfleet"
    gateway_service: str = "gateway"
    gateway_port: int = 80
    routes_configmap: str = "shopfleet-routes"
    routes_key: str = "routes.json"
    ingress_class: str | None = None
    # TLS on the shops' Ingresses: at most one of a cert-manager ClusterIssuer, an Issuer
    # (then each host gets a certificate Secret of its own) or an existing TLS Secret.
    tls_cluster_issuer: str | None = None
    tls_issuer: str | None = None
    tls_secret: str | None = None
    # The status URLs' scheme; None: https when the Ingresses have TLS, http otherwise
    # (set https when TLS ends in front of the ingress controller).
    public_scheme: str | None = None
    dapr_config: str = "shopfleet"
    redis_host: str = "redis-master.shopfleet.svc:6379"
    postgres_url: str = "host=postgresql.shopfleet.svc user=postgres"
    rabbitmq_url: str = "amqp://rabbitmq.shopfleet.svc:5672"
    connections_secret: str = "shopfleet-connections"  # the chart's (redis-password, ...)
    # The platform Redis's password (None: no auth). Never given to a dedicated shop, which
    # gets an ACL user of its own, made by the admin below (None: the default user, with
    # the password above). The ACL key prefix: what comes before a state component's
    # keyPrefix in every Redis key (empty with daprd; the simulated cluster's sidecar
    # doubles add their run's prefix).
    redis_password: str | None = None
    redis_admin_user: str | None = None
    redis_admin_password: str | None = None
    redis_acl_key_prefix: str = ""
    timer_interval: float = 60.0
    retry_delay: float = 10.0  # seconds before kopf retries a temporary failure
    bootstrap_concurrency: int = 4
    peering_lifetime: int = 30
    service_port: int = 8000
    metrics_port: int = 9464  # the services' Prometheus port (the chart's http.metricsPort)
    # The dedicated shops' relational databases (`<prefix><shop>_<service>`) on the
    # platform's PostgreSQL, as the chart's `postgres` values say.
    postgres_host: str = "postgresql.shopfleet.svc"
    postgres_port: int = 5432
    postgres_user: str = "shopfleet"
    postgres_password: str | None = None
    postgres_database_prefix: str = "shopfleet_"
    postgres_options: str | None = None
    # Who makes each dedicated shop's own role and databases (CREATEROLE and CREATEDB; None:
    # the user above), and its vhost and user on RabbitMQ (management API; None: the pub/sub
    # URL's host, port 15672). Their credentials stay in the operator's own Secret.
    postgres_admin_user: str | None = None
    postgres_admin_password: str | None = None
    rabbitmq_management_url: str | None = None
    rabbitmq_admin_user: str = "guest"
    rabbitmq_admin_password: str = "guest"
    # Shutdown of a dedicated shop's pods: the app's drain, and its sidecar's (the chart's
    # http.gracefulTimeoutSeconds, dapr.gracefulShutdownSeconds, dapr.blockShutdownSeconds).
    graceful_timeout_seconds: int = 20
    dapr_graceful_shutdown_seconds: int = 30
    dapr_block_shutdown_seconds: int = 30
    # The gateway's pods (their labels, `k=v,...`), admitted by the dedicated shops'
    # NetworkPolicy from the platform namespace; and the namespace Prometheus scrapes
    # from (None: any namespace, on the metrics ports only).
    gateway_selector: str = "app.kubernetes.io/name=shopfleet,app.kubernetes.io/component=gateway"
    monitoring_namespace: str | None = None
    # What the chart gives every service's containers (log level and format, call timeout,
    # public URL, platform.env, ...: its `shopfleet.commonSettings`), given to a dedicated
    # shop's containers too. Secrets are not in it. (name, value) pairs: Config stays hashable.
    service_env: tuple[tuple[str, str], ...] = ()
    # The chart's Dapr definitions, for dedicated shops' namespaces (as JSON text, so that
    # Config stays hashable): the sidecar annotations of its services, its Configuration's
    # spec (tracing, metrics, secret scopes) and its Resiliency's spec.
    dapr_annotations: tuple[tuple[str, str], ...] = ()
    dapr_configuration: str | None = None
    dapr_resiliency: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The variables above, each over its field's default (an empty one is unset)."""
        env = os.environ if env is None else env
        default = cls()

        def get(name: str) -> str | None:
            return env.get(f"SHOPFLEET_OPERATOR_{name}") or None

        def number(name: str, otherwise: int) -> int:
            return otherwise if (text := get(name)) is None else int(text)

        def seconds(name: str, otherwise: float) -> float:
            return otherwise if (text := get(name)) is None else float(text)

        def pairs(name: str) -> tuple[tuple[str, str], ...]:
            text = get(name)
            parsed = {} if text is None else _json_object(name, text)
            return tuple((str(k), str(v)) for k, v in parsed.items())

        def json_object_text(name: str) -> str | None:
            if (text := get(name)) is not None:
                _json_object(name, text)  # refused here, not when a shop's pods are built
            return text

        config = cls(
            platform_url=(env.get("SHOPFLEET_PLATFORM_URL") or "").rstrip("/") or None,
            platform_token=env.get("SHOPFLEET_PLATFORM_TOKEN") or None,
            image=get("IMAGE") or default.image,
            namespace=get("NAMESPACE") or default.namespace,
            gateway_service=get("GATEWAY_SERVICE") or default.gateway_service,
            routes_configmap=get("ROUTES_CONFIGMAP") or default.routes_configmap,
            ingress_class=get("INGRESS_CLASS"),
            public_scheme=get("PUBLIC_SCHEME"),
            dapr_config=get("DAPR_CONFIG") or default.dapr_config,
            redis_host=get("REDIS_HOST") or default.redis_host,
            postgres_url=get("POSTGRES_URL") or default.postgres_url,
            rabbitmq_url=get("RABBITMQ_URL") or default.rabbitmq_url,
            connections_secret=get("CONNECTIONS_SECRET") or default.connections_secret,
            tls_cluster_issuer=get("TLS_CLUSTER_ISSUER"),
            tls_issuer=get("TLS_ISSUER"),
            tls_secret=get("TLS_SECRET"),
            gateway_port=number("GATEWAY_PORT", default.gateway_port),
            bootstrap_concurrency=number("BOOTSTRAP_CONCURRENCY", default.bootstrap_concurrency),
            metrics_port=number("METRICS_PORT", default.metrics_port),
            postgres_port=number("POSTGRES_PORT", default.postgres_port),
            graceful_timeout_seconds=number(
                "GRACEFUL_TIMEOUT_SECONDS", default.graceful_timeout_seconds
            ),
            dapr_graceful_shutdown_seconds=number(
                "DAPR_GRACEFUL_SHUTDOWN_SECONDS", default.dapr_graceful_shutdown_seconds
            ),
            dapr_block_shutdown_seconds=number(
                "DAPR_BLOCK_SHUTDOWN_SECONDS", default.dapr_block_shutdown_seconds
            ),
            peering_lifetime=number("PEERING_LIFETIME", default.peering_lifetime),
            postgres_host=get("POSTGRES_HOST") or default.postgres_host,
            postgres_user=get("POSTGRES_USER") or default.postgres_user,
            postgres_password=get("POSTGRES_PASSWORD"),
            postgres_database_prefix=(
                get("POSTGRES_DATABASE_PREFIX") or default.postgres_database_prefix
            ),
            postgres_options=get("POSTGRES_OPTIONS"),
            gateway_selector=get("GATEWAY_SELECTOR") or default.gateway_selector,
            monitoring_namespace=get("MONITORING_NAMESPACE"),
            redis_password=get("REDIS_PASSWORD"),
            postgres_admin_user=get("POSTGRES_ADMIN_USER"),
            postgres_admin_password=get("POSTGRES_ADMIN_PASSWORD"),
            rabbitmq_management_url=get("RABBITMQ_MANAGEMENT_URL"),
            rabbitmq_admin_user=get("RABBITMQ_ADMIN_USER") or default.rabbitmq_admin_user,
            rabbitmq_admin_password=(
                get("RABBITMQ_ADMIN_PASSWORD") or default.rabbitmq_admin_password
            ),
            redis_admin_user=get("REDIS_ADMIN_USER"),
            redis_admin_password=get("REDIS_ADMIN_PASSWORD"),
            redis_acl_key_prefix=get("REDIS_ACL_KEY_PREFIX") or default.redis_acl_key_prefix,
            service_env=pairs("SERVICE_ENV"),
            dapr_annotations=pairs("DAPR_ANNOTATIONS"),
            dapr_configuration=json_object_text("DAPR_CONFIGURATION"),
            dapr_resiliency=json_object_text("DAPR_RESILIENCY"),
            timer_interval=seconds("TIMER_INTERVAL", default.timer_interval),
            retry_delay=seconds("RETRY_DELAY", default.retry_delay),
        )
        tls = [
            f"SHOPFLEET_OPERATOR_{field.upper()}"
            for field, value in [
                ("tls_cluster_issuer", config.tls_cluster_issuer),
                ("tls_issuer", config.tls_issuer),
                ("tls_secret", config.tls_secret),
            ]
            if value is not None
        ]
        if len(tls) > 1:
            raise ValueError(f"TLS on shop Ingresses takes one of {', '.join(tls)}, not several")
        if config.public_scheme not in (None, "http", "https"):
            raise ValueError("SHOPFLEET_OPERATOR_PUBLIC_SCHEME must be http or https")
        return config

    @property
    def tls(self) -> bool:
        """Whether the shops' Ingresses serve TLS."""
        return bool(self.tls_cluster_issuer or self.tls_issuer or self.tls_secret)

    @property
    def scheme(self) -> str:
        """Of the shops' public URLs: what their Ingresses serve, unless told otherwise."""
        return self.public_scheme or ("https" if self.tls else "http")

    @property
    def gateway_labels(self) -> dict[str, str]:
        """`gateway_selector` as matchLabels."""
        pairs = (item.partition("=") for item in self.gateway_selector.split(",") if item)
        return {key.strip(): value.strip() for key, _, value in pairs}

    @property
    def management_url(self) -> str:
        """RabbitMQ's management API (without a trailing slash)."""
        if self.rabbitmq_management_url:
            return self.rabbitmq_management_url.rstrip("/")
        return f"http://{urlsplit(self.rabbitmq_url).hostname}:15672"

    @property
    def gateway_url(self) -> str:
        """The gateway inside the cluster."""
        return f"http://{self.gateway_service}.{self.namespace}.svc"
