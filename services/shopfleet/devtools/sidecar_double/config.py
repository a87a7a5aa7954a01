"""What one sidecar double is told: `SidecarConfig` (from `__main__`'s flags or a test),
and the names of the headers and keys the doubles share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shopfleet.devtools.sidecar_double.access import AccessControl
from shopfleet.devtools.sidecar_double.resources import Resources, SecretPolicy
from shopfleet.devtools.sidecar_double.secret_stores import SERVICEACCOUNT_DIR

RUNTIME_VERSION = "1.16-double"
INVOCATION_LOG_KEY = (
    "invocations"  # under the prefix: calls delivered to apps (--record-invocations)
)
APP_TOKEN_HEADER = "dapr-api-token"  # how daprd proves itself to its app (APP_API_TOKEN)
PEER_HEADER = "x-double-peer"  # the doubles' stand-in for daprd's mTLS between sidecars
CALLER_NAMESPACE_HEADER = "x-double-caller-namespace"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}


@dataclass
class SidecarConfig:
    app_id: str
    app_port: int | None = None  # None: an app that serves nothing (no subscriptions)
    app_host: str = "127.0.0.1"
    host: str = "127.0.0.1"
    grpc_port: int = 0  # 0: pick a free port (see SidecarDouble.grpc_port after start)
    http_port: int = 0
    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    prefix: str = "dapr-double."  # Redis keys, exchanges, queues, registry: one namespace
    state_stores: tuple[str, ...] = ("statestore",)
    pubsubs: tuple[str, ...] = ("pubsub",)
    secret_stores: tuple[str, ...] = ("secretstore",)
    secrets_file: Path | None = None  # {"<secret name>": {"<key>": "<value>"}}
    default_max_attempts: int = 5
    retry_base_s: float = 0.5
    retry_max_s: float = 10.0
    prefetch: int = 32
    delivery_timeout_s: float = 60.0
    app_ready_timeout_s: float = 60.0
    namespace: str = "default"  # the caller namespace access-control policies match
    access_control: AccessControl = field(default_factory=AccessControl.allow_all)
    app_token: str | None = None  # sent to the app as dapr-api-token, as daprd sends APP_API_TOKEN
    record_invocations: bool = False  # tests: log every call delivered to the app in Redis
    clock: Callable[[], float] | None = field(default=None, repr=False)  # tests: TTL time
    # --- configured from Dapr resources (`--resources-path`), as daprd is ---------------
    # None: the flags above (redis_url, amqp_url, state_stores, ...) define the components.
    resources: Resources | None = None
    kubernetes_mode: bool = False  # daprd --mode kubernetes: adds the built-in secret store
    builtin_k8s_store: bool = True  # dapr.io/disable-builtin-k8s-secret-store: "false"
    serviceaccount_dir: Path = SERVICEACCOUNT_DIR
    environ: dict[str, str] | None = field(default=None, repr=False)  # None: os.environ
    secret_policies: dict[str, SecretPolicy] = field(default_factory=dict)
    # How invocations find other apps: "registry" (the Redis hash under the prefix, for
    # `shopfleet dev` and the multi-process tier) or "kubernetes" (`<app-id>[.<ns>]` ->
    # `<app-id>-dapr.<ns>.svc.<cluster_domain>:<internal_port>` by DNS, as Dapr's
    # Kubernetes name resolution).
    name_resolution: str = "registry"
    internal_port: int | None = None  # daprd's --dapr-internal-grpc-port (peers call it)
    cluster_domain: str = "cluster.local"
    peer_secret: str | None = None  # kubernetes resolution: the stand-in for mTLS, given
    log_lines: Callable[[str, str], None] | None = field(default=None, repr=False)
    metrics_port: int | None = None  # Prometheus text: components loaded, sidecar up
    graceful_shutdown_s: float = 5.0
    block_shutdown_s: float = 0.0
