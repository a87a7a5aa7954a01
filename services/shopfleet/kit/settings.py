"""Settings for every part, read from `SHOPFLEET_*` environment variables.

Settings objects are built in app factories and the CLI, never at import time, so a test
can build an app with exactly the settings it wants.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """What every part of one deployment shares."""

    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".shopfleet"),
        description="Where the embedded platform keeps its SQLite files, keys and route table.",
    )
    blocks: Literal["local", "dapr"] = Field(
        default="local",
        description="Building-block adapters: in-process (local) or the Dapr sidecar.",
    )
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    access_log: bool = True
    migrate_on_start: bool = Field(
        default=True,
        description="Bring each service's schema to the newest migration when it starts. Off when "
        "a `shopfleet migrate <service>` Job or initContainer does it (`serve --no-migrate`).",
    )
    platform_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential for internal platform endpoints (tenant bootstrap, routes).",
    )
    service_token: SecretStr | None = Field(
        default=None,
        description="The credential services add to service-to-service calls (/internal/shops/"
        "...); without it those routes refuse every call. The embedded platform makes one.",
    )
    app_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("APP_API_TOKEN", "SHOPFLEET_APP_API_TOKEN"),
        description="Dapr mode: the token the app's sidecar sends (dapr-api-token); set by the "
        "sidecar injector from the dapr.io/app-token-secret annotation. When set, the app "
        "refuses every call that does not carry it (probes and /metrics excepted).",
    )
    jwt_issuer: str = "shopfleet"
    jwt_audience: str = "shopfleet"
    state_store_url: str | None = Field(
        default=None,
        description="Embedded platform: keep state (carts, throttles) in this Redis "
        "(redis://host:port/db) instead of the data dir's SQLite file.",
    )
    state_key_prefix: str = Field(default="shopfleet", pattern=r"^[A-Za-z0-9_.:-]+$")
    call_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of a service-to-service call."
    )
    quota_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a service keeps a shop's quotas before asking identity again.",
    )
    session_poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="With one process per service, how stale a process's view of ended "
        "sessions (logouts, password changes) may get on non-Admin routes; Admin decisions "
        "and identity itself always ask identity first. The embedded platform is never stale.",
    )
    gc_gen0_threshold: int = Field(
        default=20_000,
        ge=700,
        description="Allocations between young-generation garbage collections once started "
        "(Python's default is 700; a request allocates thousands of short-lived objects, and "
        "collecting every 700 cost 3-9 % of a checkout's CPU in our runs).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the metrics port. In a cluster 0.0.0.0, so Prometheus "
        "reaches the pod; the port is in no Service the public reaches.",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Port that serves Prometheus metrics at /metrics (0: none). Metrics are "
        "never served on the API port.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Addresses or networks (CIDR) of the proxies in front of our servers, "
        "comma-separated: only a connection from one of them may name the client with "
        "X-Forwarded-For/-Proto (the rightmost address no proxy in this list added is the "
        "client). Empty: nobody (the socket's peer is the client).",
    )
    http_max_head_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest request head (request line and headers) our servers read; "
        "larger ones get a 431.",
    )
    http_max_headers: int = Field(
        default=100, ge=10, description="Most header fields in one request; more get a 431."
    )
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time a client has to send a whole request head, from the connection's "
        "start or the request's first byte; then a 408 and the connection is closed.",
    )
    json_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest JSON request body an app parses (images and other bodies are not "
        "JSON and are bounded by the gateway's max_body_bytes).",
    )
    json_max_depth: int = Field(default=32, ge=2, description="Deepest nesting of a JSON body.")
    json_max_object_keys: int = Field(
        default=1000, ge=1, description="Most keys one object of a JSON body may hold."
    )
    json_max_array_items: int = Field(
        default=1000, ge=1, description="Most items one array of a JSON body may hold."
    )
    json_max_values: int = Field(
        default=10_000,
        ge=1,
        description="Most keys and array items a JSON body may hold in all: what validation "
        "costs, and how many errors it can report, grows with this.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="Where the gateway is reachable from outside, e.g. https://shops.example.com "
        "(no trailing slash). Used for links and webhook registrations; `shopfleet up` sets it.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value if isinstance(value, list) else ():
            try:
                ipaddress.ip_network(entry)  # an address is a network of one
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network (CIDR)"
                ) from None
        return value


class ServiceSettings(BaseSettings):
    """Base of each service's settings: its own database plus the platform settings."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file `<service>.db` in the data dir.",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="Connections per pool. On PostgreSQL one process opens up to 5× this "
        "(writer and reader pools, each with as much overflow, and the fast-read pool): keep "
        "services × replicas × 5 × this under the server's max_connections, or use PgBouncer.",
    )
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    def resolved_database_url(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        path = self.platform.data_dir.resolve() / f"{service}.db"
        return f"sqlite+aiosqlite:///{path}"


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting."""
    return value.get_secret_value() if value is not None else None
