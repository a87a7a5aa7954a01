"""What the multi-process platform runs: its options, and per part (each service, then
the gateway) the ports, environment and command lines of the service and of its sidecar
double, decided before anything starts; and the files every double reads."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shopfleet.dev.processes import Proc, free_ports

GATEWAY = "gateway"
SIDECAR_MODULE = "shopfleet.devtools.sidecar_double"
PORTS_PER_PART = 4  # app, the double's gRPC and HTTP, the app's metrics


@dataclass
class DevOptions:
    run_dir: Path
    prefix: str = "shopfleet-dev."  # the doubles' namespace in Redis and RabbitMQ
    database_urls: Mapping[str, str] | None = None  # per service; None: create on admin_dsn
    database_prefix: str = "shopfleet_dev_"
    admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    host: str = "127.0.0.1"
    gateway_port: int = 0  # 0: any free port
    platform_token: str | None = None  # None: kept in <run dir>/platform-token
    seed_demo: bool = True
    services: Sequence[str] | None = None  # default: every service of SERVICES
    env: Mapping[str, str] = field(default_factory=dict)  # extra env of every part
    log_level: str = "INFO"
    # Each service opens up to 5 × this many PostgreSQL connections (writer and reader
    # engines with overflow, fast reads); eight services with the default pools of 10 would
    # exceed PostgreSQL's default max_connections (100) under load. None: the services' own.
    db_pool_size: int | None = 2
    # Deliveries to an app that is down are retried 1, 2, 4, 8 s apart (5 attempts, the
    # subscriptions' maxDeliveryAttempts) before dead-lettering: a restart fits in there.
    sidecar_args: Sequence[str] = ("--retry-base-s", "1", "--retry-max-s", "30")
    start_timeout_s: float = 240.0
    stop_grace_s: float = 20.0
    python: str = sys.executable


@dataclass
class Part:
    name: str
    app_port: int
    grpc_port: int
    http_port: int
    database_url: str | None
    service: Proc
    sidecar: Proc
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def sidecar_configuration() -> dict[str, object]:
    """The platform's Dapr Configuration (components/configuration.yaml) as far as the
    doubles apply it: service invocation closed but for the grants of kit/contracts/access.py,
    and Dapr's built-in `kubernetes` secret store closed to the apps. Made here rather than
    read from components/, which an installed package does not have."""
    from shopfleet.kit.contracts.access import access_control

    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": "shopfleet"},
        "spec": {
            "secrets": {"scopes": [{"storeName": "kubernetes", "defaultAccess": "deny"}]},
            "accessControl": access_control(lambda _caller: "default"),
        },
    }


def platform_secret_json() -> bytes:
    """The Secret `shopfleet-platform` as a cluster has it (kit/contracts/secrets.py)."""
    from shopfleet.kit.contracts.secrets import PLATFORM_SECRET, SIGNING_KEY_ENCRYPTION_KEY

    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return orjson.dumps({PLATFORM_SECRET: {SIGNING_KEY_ENCRYPTION_KEY: key}})


@dataclass(frozen=True)
class RunFiles:
    """What the run dir holds besides each part's data dir."""

    run_dir: Path

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def routes(self) -> Path:
        return self.run_dir / "routes.json"

    @property
    def secrets(self) -> Path:  # the Kubernetes Secrets the doubles' secret store reads
        return self.run_dir / "k8s-secrets.json"

    @property
    def queues(self) -> Path:  # what `purge_namespace` deletes
        return self.run_dir / "queues.json"

    @property
    def configuration(self) -> Path:  # the doubles' Dapr Configuration
        return self.run_dir / "dapr-configuration.yaml"


@dataclass(frozen=True)
class _Ports:
    app: int
    grpc: int
    http: int
    metrics: int


def plan(
    options: DevOptions,
    names: Sequence[str],
    databases: Mapping[str, str],
    files: RunFiles,
    platform_token: str,
) -> tuple[str, dict[str, Part]]:
    """The gateway's URL and a `Part` (not started) for each of `names` and the gateway."""
    names = [*names, GATEWAY]
    ports = free_ports(PORTS_PER_PART * len(names) + 1)
    gateway_port = options.gateway_port or ports.pop()
    shown = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    url = f"http://{shown}:{gateway_port}"
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DAPR_")
        and not k.endswith("_DATABASE_URL")
        and k not in ("APP_API_TOKEN", "SHOPFLEET_SERVICE_TOKEN")
    }
    shared = {
        "SHOPFLEET_PLATFORM_TOKEN": platform_token,
        "SHOPFLEET_PUBLIC_URL": url,
        "SHOPFLEET_GATEWAY_ROUTES_FILE": str(files.routes),
    }
    service_token = secrets.token_urlsafe(32)  # services only: the gateway never has it
    parts = {}
    for i, name in enumerate(names):
        at = PORTS_PER_PART * i
        app_port = gateway_port if name == GATEWAY else ports[at]
        part_ports = _Ports(app_port, ports[at + 1], ports[at + 2], ports[at + 3])
        # Each app trusts only its own sidecar: a token the two share and no one else has.
        app_token = {"APP_API_TOKEN": secrets.token_urlsafe(32)}
        database = databases.get(name)
        env = {
            **base_env,
            **_service_env(options, name, part_ports, database, files),
            **shared,
            **app_token,
            **({} if name == GATEWAY else {"SHOPFLEET_SERVICE_TOKEN": service_token}),
            **options.env,
        }
        service = Proc(
            name,
            _service_argv(options, name, app_port),
            env,
            files.logs / f"{name}.log",
            files.run_dir,
        )
        sidecar = Proc(
            f"{name}-sidecar",
            _sidecar_argv(options, name, part_ports, files),
            {k: v for k, v in base_env.items() if not k.startswith("SHOPFLEET_")} | app_token,
            files.logs / f"{name}-sidecar.log",
            files.run_dir,
        )
        parts[name] = Part(
            name,
            app_port,
            part_ports.grpc,
            part_ports.http,
            database,
            service,
            sidecar,
            part_ports.metrics,
        )
    return url, parts


def _service_env(
    options: DevOptions, name: str, ports: _Ports, database: str | None, files: RunFiles
) -> dict[str, str]:
    """The service's own settings: the Dapr adapter on its double, its data dir and database."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "SHOPFLEET_BLOCKS": "dapr",
        "DAPR_GRPC_PORT": str(ports.grpc),
        "DAPR_HTTP_PORT": str(ports.http),
        "SHOPFLEET_DATA_DIR": str(files.run_dir / "data" / name),
        "SHOPFLEET_LOG_FORMAT": "json",
        "SHOPFLEET_LOG_LEVEL": options.log_level,
        "SHOPFLEET_METRICS_PORT": str(ports.metrics),  # on 127.0.0.1
    }
    if database:
        env[f"SHOPFLEET_{name.upper()}_DATABASE_URL"] = database
        if options.db_pool_size:
            env[f"SHOPFLEET_{name.upper()}_DB_POOL_SIZE"] = str(options.db_pool_size)
    return env


def _service_argv(options: DevOptions, name: str, port: int) -> list[str]:
    host = options.host if name == GATEWAY else "127.0.0.1"  # only the gateway is public
    return [
        options.python,
        "-m",
        "shopfleet.cli",
        "serve",
        name,
        "--host",
        host,
        "--port",
        str(port),
        "--graceful-timeout",
        "10",
    ]


def _sidecar_argv(options: DevOptions, name: str, ports: _Ports, files: RunFiles) -> list[str]:
    return [
        options.python,
        "-m",
        SIDECAR_MODULE,
        "--app-id",
        name,
        "--app-port",
        str(ports.app),
        "--grpc-port",
        str(ports.grpc),
        "--http-port",
        str(ports.http),
        "--redis",
        options.redis_url,
        "--amqp",
        options.amqp_url,
        "--prefix",
        options.prefix,
        "--secrets-file",
        str(files.secrets),
        "--app-ready-timeout-s",
        str(options.start_timeout_s + 60),
        "--config",
        str(files.configuration),
        "--log-level",
        options.log_level,
        *options.sidecar_args,
    ]
