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
| `SHOPFLEET_OPERATOR_PUBLIC_SCHEME` | `https` | scheme of the shops' public URLs |
| `SHOPFLEET_OPERATOR_DAPR_CONFIG` | `shopfleet` | the Dapr Configuration of dedicated shops' pods |
| `SHOPFLEET_OPERATOR_REDIS_HOST` | `redis-master.shopfleet.svc:6379` | state store (redis) |
| `SHOPFLEET_OPERATOR_POSTGRES_URL` | `host=postgresql.shopfleet.svc …` | state (postgresql) |
| `SHOPFLEET_OPERATOR_RABBITMQ_URL` | `amqp://rabbitmq.shopfleet.svc:5672` | pub/sub |
| `SHOPFLEET_OPERATOR_TIMER_INTERVAL` | `60` | seconds between drift checks of a shop |
| `SHOPFLEET_OPERATOR_BOOTSTRAP_CONCURRENCY` | `4` | tenant bootstraps in flight at once |
| `SHOPFLEET_OPERATOR_RETRY_DELAY` | `10` | seconds before retrying a temporary failure |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    public_scheme: str = "https"
    dapr_config: str = "shopfleet"
    redis_host: str = "redis-master.shopfleet.svc:6379"
    postgres_url: str = "host=postgresql.shopfleet.svc user=postgres"
    rabbitmq_url: str = "amqp://rabbitmq.shopfleet.svc:5672"
    timer_interval: float = 60.0
    bootstrap_concurrency: int = 4
    service_port: int = 8000
    metrics_port: int = 9464  # the services' Prometheus port (the chart's http.metricsPort)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(f"SHOPFLEET_OPERATOR_{name}") or None

        values: dict[str, object] = {
            "platform_url": (env.get("SHOPFLEET_PLATFORM_URL") or "").rstrip("/") or None,
            "platform_token": env.get("SHOPFLEET_PLATFORM_TOKEN") or None,
        }
        for field in (
            "image", "namespace", "gateway_service", "routes_configmap", "ingress_class",
            "public_scheme", "dapr_config", "redis_host", "postgres_url", "rabbitmq_url",
        ):  # fmt: skip
            if (value := get(field.upper())) is not None:
                values[field] = value
        if (port := get("GATEWAY_PORT")) is not None:
            values["gateway_port"] = int(port)
        if (concurrency := get("BOOTSTRAP_CONCURRENCY")) is not None:
            values["bootstrap_concurrency"] = int(concurrency)
        if (metrics := get("METRICS_PORT")) is not None:
            values["metrics_port"] = int(metrics)
        if (interval := get("TIMER_INTERVAL")) is not None:
            values["timer_interval"] = float(interval)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def gateway_url(self) -> str:
        """The gateway inside the cluster."""
        return f"http://{self.gateway_service}.{self.namespace}.svc"
