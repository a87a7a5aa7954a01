"""`SidecarDouble`: one app's stand-in Dapr sidecar (see README.md in this folder)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf.empty_pb2 import Empty
from yarl import URL

from shopfleet.devtools.sidecar_double.access import AccessControl
from shopfleet.devtools.sidecar_double.broker import Broker, DeadLetterRecord, Route
from shopfleet.devtools.sidecar_double.resources import Resources, SecretPolicy
from shopfleet.devtools.sidecar_double.runtime import (
    SERVICEACCOUNT_DIR,
    ComponentLoader,
    FileSecretStore,
    Loaded,
    SecretNotFound,
)
from shopfleet.kit.blocks.ports import ETagMismatch, StateOp
from shopfleet.kit.blocks.redis_state import RedisStateStore

log = structlog.get_logger("sidecar")

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
FIRST_WRITE = common_v1.StateOptions.CONCURRENCY_FIRST_WRITE
LAST_WRITE = common_v1.StateOptions.CONCURRENCY_LAST_WRITE


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


class SidecarDouble:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.grpc_port = config.grpc_port
        self.http_port = config.http_port
        self.stores: dict[str, Any] = {}
        self.brokers: dict[str, Broker] = {}
        self.secret_stores: dict[str, Any] = {}
        self.component_types: dict[str, tuple[str, str]] = {}
        self.warnings: list[str] = []  # unknown metadata keys, skipped components
        self.loaded: Loaded | None = None
        if config.resources is None:  # the command-line flags define the components
            prefix = f"{config.prefix}{config.app_id}"
            state = RedisStateStore(config.redis_url, key_prefix=prefix, clock=config.clock)
            broker = self._broker(config.amqp_url, config.pubsubs)
            self.stores = dict.fromkeys(config.state_stores, state)
            self.brokers = dict.fromkeys(config.pubsubs, broker)
            files = FileSecretStore("file", config.secrets_file)
            self.secret_stores = dict.fromkeys(config.secret_stores, files)
            self.component_types = {
                **dict.fromkeys(config.state_stores, ("state.redis", "v1")),
                **dict.fromkeys(config.pubsubs, ("pubsub.rabbitmq", "v1")),
                **dict.fromkeys(config.secret_stores, ("secretstores.local.file", "v1")),
            }
            self.state: Any = state
            self.broker: Broker | None = broker  # None: the resources define no pub/sub
        uses_registry = config.name_resolution == "registry"
        self._redis = (
            aioredis.Redis.from_url(config.redis_url)
            if uses_registry or config.record_invocations
            else None
        )
        self._grpc: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._internal_site: web.TCPSite | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._app_task: asyncio.Task[None] | None = None
        self.app_ready = asyncio.Event()
        self.app_error: str | None = None
        self.stopped = False
        self.peer_secret = ""  # set on start (see start)

    # ------------------------------------------------------------------------- lifecycle

    @property
    def registry_key(self) -> str:
        return f"{self.config.prefix}registry"

    @property
    def grpc_address(self) -> str:
        return f"{self.config.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def dead_letters(self) -> list[DeadLetterRecord]:
        return [d for b in self._unique_brokers() for d in b.dead_letters]

    def _unique_brokers(self) -> list[Broker]:
        return list({id(b): b for b in self.brokers.values()}.values())

    def _unique_stores(self) -> list[Any]:
        return list({id(s): s for s in self.stores.values()}.values())

    def _broker(self, amqp_url: str, pubsubs: tuple[str, ...], **options: Any) -> Broker:
        config = self.config
        app_url = (
            f"http://{config.app_host}:{config.app_port}" if config.app_port is not None else None
        )
        return Broker(
            amqp_url=amqp_url,
            prefix=config.prefix,
            pubsubs=pubsubs,
            app_base_url=app_url,
            app_id=config.app_id,
            app_headers=self.app_headers(),
            default_max_attempts=config.default_max_attempts,
            retry_base_s=config.retry_base_s,
            retry_max_s=config.retry_max_s,
            prefetch=options.pop("prefetch", config.prefetch),
            delivery_timeout_s=config.delivery_timeout_s,
            **options,
        )

    def log_line(self, level: str, line: str) -> None:
        """A plain line in the sidecar's log (what tests and `describe_failures` grep)."""
        if level in {"warning", "error", "fatal"}:
            self.warnings.append(line)
        if self.config.log_lines is not None:
            self.config.log_lines(level, line)
        else:
            getattr(log, "error" if level == "fatal" else level)(line)

    async def _load_components(self) -> None:
        """From Dapr resources, as daprd: a component that cannot load stops the sidecar
        (`ComponentLoadError`) unless it says `ignoreErrors: true`."""
        config = self.config
        assert config.resources is not None
        loader = ComponentLoader(
            app_id=config.app_id,
            namespace=config.namespace,
            prefix=config.prefix,
            kubernetes_mode=config.kubernetes_mode,
            builtin_k8s_store=config.builtin_k8s_store,
            serviceaccount_dir=config.serviceaccount_dir,
            environ=config.environ,
            log=self.log_line,
            clock=config.clock,
        )
        loaded = await loader.load(config.resources)
        self.loaded = loaded
        self.stores = dict(loaded.state)
        self.secret_stores = dict(loaded.secrets)
        self.component_types = dict(loaded.types)
        for name, settings in loaded.pubsubs.items():
            self.brokers[name] = self._broker(
                settings.amqp_url,
                (name,),
                prefetch=settings.prefetch or 32,
                durable=settings.durable,
                auto_delete=settings.auto_delete,
                persistent=settings.persistent,
                publisher_confirms=settings.publisher_confirms,
                consumer_id=settings.consumer_id,
                topic_prefix=settings.topic_prefix,
            )
        self.state = next(iter(self.stores.values()), None)
        self.broker = next(iter(self.brokers.values()), None)
        self._declared_subscriptions: list[dict[str, Any]] = list(
            config.resources.for_app(config.app_id).subscriptions
        )

    async def start(self) -> None:
        """Components first, then the APIs; the app's subscriptions load in the background
        (`/v1.0/healthz` answers 204 once they are in place; see `wait_app_ready`)."""
        self._declared_subscriptions = []
        if self.config.resources is not None:
            try:
                await self._load_components()
            except Exception:
                if self._redis is not None:
                    await self._redis.aclose()
                raise
        for store in self._unique_stores():
            if self.config.resources is None:
                await store.open()
        for broker in self._unique_brokers():
            await broker.open()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._grpc = grpc.aio.server()
        api_service_v1.add_DaprServicer_to_server(_DaprApi(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.config.host}:{self.grpc_port}")
        await self._grpc.start()
        self._runner = web.AppRunner(
            _http_api(self), handler_cancellation=True, access_log=None, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.http_port)
        await site.start()
        self.http_port = self._runner.addresses[0][1]
        if self.config.internal_port is not None:  # what peers call (the -dapr Service)
            self._internal_site = web.TCPSite(
                self._runner, self.config.host, self.config.internal_port
            )
            await self._internal_site.start()
        if self.config.metrics_port is not None:
            metrics = web.Application()
            metrics.router.add_get("/metrics", self._metrics)
            self._metrics_runner = web.AppRunner(metrics, access_log=None)
            await self._metrics_runner.setup()
            await web.TCPSite(
                self._metrics_runner, self.config.host, self.config.metrics_port
            ).start()
        if self.config.peer_secret is not None:
            self.peer_secret = self.config.peer_secret
        elif self._redis is not None:
            # One secret per cluster (prefix): the first double makes it, the others read it.
            secret_key = f"{self.config.prefix}peer-secret"
            await self._redis.set(secret_key, secrets.token_urlsafe(24), nx=True)
            self.peer_secret = _decoded(await self._redis.get(secret_key))
        if self.config.name_resolution == "registry":
            assert self._redis is not None
            await self._redis.hset(self.registry_key, self.config.app_id, self.http_url)
        self._app_task = asyncio.create_task(self._connect_app(), name="sidecar-app")

    async def _metrics(self, request: web.Request) -> web.Response:
        """A few of daprd's series, enough for a scrape to find something."""
        app = self.config.app_id
        lines = [
            "# TYPE dapr_runtime_component_loaded counter",
            *(
                f'dapr_runtime_component_loaded{{app_id="{app}",component="{name}",'
                f'success="true"}} 1'
                for name in self.component_types
            ),
            "# TYPE dapr_runtime_app_ready gauge",
            f'dapr_runtime_app_ready{{app_id="{app}"}} {1 if self.app_ready.is_set() else 0}',
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def wait_app_ready(self, timeout_s: float | None = None) -> None:
        timeout = self.config.app_ready_timeout_s if timeout_s is None else timeout_s
        await asyncio.wait_for(self.app_ready.wait(), timeout)

    async def stop(self, *, graceful: bool = True) -> None:
        """Graceful: deliveries in flight finish and are acked. Not graceful (`crash`):
        the broker connection drops at once, so unacked messages go back to their queues."""
        if self.stopped:
            return
        self.stopped = True
        if self._app_task is not None:
            self._app_task.cancel()
            with contextlib.suppress(BaseException):
                await self._app_task
        if self._redis is not None and self.config.name_resolution == "registry":
            with contextlib.suppress(Exception):
                await self._redis.hdel(self.registry_key, self.config.app_id)
        for broker in self._unique_brokers():
            await broker.stop(graceful=graceful)
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0 if graceful else 0)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        if self._http is not None:
            await self._http.close()
        for store in self._unique_stores():
            await store.close()
        for secret_store in {id(s): s for s in self.secret_stores.values()}.values():
            await secret_store.close()
        if self._redis is not None:
            await self._redis.aclose()

    async def crash(self) -> None:
        await self.stop(graceful=False)

    async def _connect_app(self) -> None:
        """As daprd: wait for the app port, read `GET /dapr/subscribe`, start consuming."""
        try:
            routes: list[Route] = self.routes_from(
                [_declared(doc) for doc in self._declared_subscriptions]
            )
            if self.config.app_port is not None:
                routes += await self._read_subscriptions()
            for broker in self._unique_brokers():
                await broker.subscribe([r for r in routes if r.pubsub in broker.pubsubs])
            self.app_ready.set()
            log.info("sidecar.app_ready", app_id=self.config.app_id, routes=len(routes))
        except Exception as exc:  # stays not-ready; healthz says why
            self.app_error = repr(exc)
            log.exception("sidecar.app_connect_failed", app_id=self.config.app_id)

    async def _read_subscriptions(self) -> list[Route]:
        assert self._http is not None
        url = f"http://{self.config.app_host}:{self.config.app_port}/dapr/subscribe"
        deadline = time.monotonic() + self.config.app_ready_timeout_s
        while True:
            try:
                async with self._http.get(
                    url, headers=self.app_headers(), timeout=aiohttp.ClientTimeout(total=5)
                ) as r:
                    if r.status == 404:
                        return []  # the app declares no subscriptions
                    if r.status == 200:
                        entries = orjson.loads(await r.read())
                        break
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"app not reachable at {url}")
            await asyncio.sleep(0.05)
        return self.routes_from(entries or [])

    def routes_from(self, entries: list[dict[str, Any]]) -> list[Route]:
        """Routes from the app's `GET /dapr/subscribe` answer (v1 `route` or v2 `routes`)."""
        routes = []
        for entry in entries:
            pubsub = entry["pubsubname"]
            if pubsub not in self.brokers:
                log.error("sidecar.unknown_pubsub", pubsub=pubsub)
                continue
            meta = entry.get("metadata") or {}
            path = entry.get("route") or (entry.get("routes") or {}).get("default")
            if not path:
                continue
            routes.append(
                Route(
                    pubsub=pubsub,
                    topic=entry["topic"],
                    path=path if path.startswith("/") else f"/{path}",
                    # From a component, its consumerID (daprd's: the app-id unless it says
                    # otherwise); pubsub.rabbitmq reads no subscription `consumerID`. In
                    # flags mode (no component), the subscription's, else the app-id.
                    consumer=self.brokers[pubsub].consumer_id
                    or meta.get("consumerID")
                    or self.config.app_id,
                    dead_letter_topic=entry.get("deadLetterTopic") or None,
                    max_attempts=int(
                        meta.get("maxDeliveryAttempts") or self.config.default_max_attempts
                    ),
                )
            )
        return routes

    # ------------------------------------------------------------------------- invocation

    def is_own(self, app_id: str) -> bool:
        """`app_id` names this double's app (`<id>` or `<id>.<own namespace>`)."""
        own = self.config.app_id
        return app_id == own or app_id == f"{own}.{self.config.namespace}"

    async def resolve(self, app_id: str) -> str | None:
        """Base URL to send an invocation for `app_id` to: our app, or its sidecar."""
        if self.is_own(app_id):
            if self.config.app_port is None:
                return None
            return f"http://{self.config.app_host}:{self.config.app_port}"
        if self.config.name_resolution == "kubernetes":
            name, _, namespace = app_id.partition(".")
            namespace = namespace or self.config.namespace
            host = f"{name}-dapr.{namespace}.svc.{self.config.cluster_domain}"
            port = self.config.internal_port or 50002
            try:  # DNS, as Dapr's Kubernetes name resolution (no answer: not found)
                await asyncio.get_running_loop().getaddrinfo(host, port)
            except OSError:
                return None
            return f"http://{host}:{port}"
        assert self._redis is not None
        url = await self._redis.hget(self.registry_key, app_id)
        return _decoded(url) or None

    async def record_invocation(self, method: str, path: str) -> None:
        entry = {"app_id": self.config.app_id, "method": method, "path": path}
        assert self._redis is not None
        await self._redis.rpush(f"{self.config.prefix}{INVOCATION_LOG_KEY}", orjson.dumps(entry))

    def app_headers(self) -> dict[str, str]:
        """What every call from this double to its app carries (the app API token)."""
        return {APP_TOKEN_HEADER: self.config.app_token} if self.config.app_token else {}

    # ------------------------------------------------------------------------- secrets

    async def secret(self, store: str, name: str) -> dict[str, str] | None:
        try:
            return await self.secret_stores[store].get(name)
        except SecretNotFound:
            return None

    def secret_allowed(self, store: str, name: str) -> bool:
        """The Configuration's `secrets.scopes` (the app's secrets API only)."""
        policy = self.config.secret_policies.get(store)
        return policy is None or policy.allows(name)


def _declared(doc: dict[str, Any]) -> dict[str, Any]:
    """A `Subscription` resource (v1alpha1 `route`, v2alpha1 `routes`) as a subscribe entry."""
    spec = doc.get("spec") or {}
    return {
        "pubsubname": spec.get("pubsubname"),
        "topic": spec.get("topic"),
        "route": spec.get("route"),
        "routes": spec.get("routes") or {},
        "deadLetterTopic": spec.get("deadLetterTopic"),
        "metadata": spec.get("metadata") or {},
    }


# ----------------------------------------------------------------------------- gRPC API


def _encode(raw: bytes) -> dict[str, str]:
    """State bytes as a JSON value for RedisStateStore: text when it is UTF-8, else base64."""
    try:
        return {"s": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b": base64.b64encode(raw).decode()}


def _decode(value: Any) -> bytes:
    if isinstance(value, dict) and "s" in value:
        return str(value["s"]).encode("utf-8")
    if isinstance(value, dict) and "b" in value:
        return base64.b64decode(value["b"])
    return orjson.dumps(value)


def _ttl(metadata: Any) -> int | None:
    raw = dict(metadata).get("ttlInSeconds")
    if raw is None or raw == "":
        return None
    ttl = int(raw)  # ValueError -> INVALID_ARGUMENT
    return None if ttl <= 0 else ttl


class _DaprApi(api_service_v1.DaprServicer):
    """Exactly the RPCs the Dapr adapters (and the SDK at start-up) use."""

    def __init__(self, double: SidecarDouble) -> None:
        self.d = double

    async def _store(self, name: str, context: grpc.aio.ServicerContext) -> Any:
        store = self.d.stores.get(name)
        if store is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"state store {name} is not found"
            )
        return store

    async def _check_key(self, key: str, context: grpc.aio.ServicerContext) -> None:
        if "||" in key:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"input key/keyPrefix '{key}' can't contain '||'"
            )

    async def GetState(self, request, context):
        store = await self._store(request.store_name, context)
        await self._check_key(request.key, context)
        item = await store.get(request.key)
        if item is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(data=_decode(item.value), etag=item.etag)

    async def GetBulkState(self, request, context):
        store = await self._store(request.store_name, context)
        for key in request.keys:
            await self._check_key(key, context)
        found = await store.get_bulk(list(request.keys))
        items = []
        for key in request.keys:
            item = found.get(key)
            if item is None:
                items.append(api_v1.BulkStateItem(key=key))
            else:
                items.append(
                    api_v1.BulkStateItem(key=key, data=_decode(item.value), etag=item.etag)
                )
        return api_v1.GetBulkStateResponse(items=items)

    async def SaveState(self, request, context):
        store = await self._store(request.store_name, context)
        for state in request.states:  # one by one, like daprd's bulk save
            await self._check_key(state.key, context)
            etag = state.etag.value if state.HasField("etag") else None
            if state.HasField("options") and state.options.concurrency == LAST_WRITE:
                etag = None  # last-write-wins ignores the ETag
            try:
                ttl = _ttl(state.metadata)
                await store.save(state.key, _encode(state.value), etag=etag, ttl_s=ttl)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except ETagMismatch as exc:
                await context.abort(
                    grpc.StatusCode.ABORTED,
                    f"failed saving state in state store {request.store_name}: "
                    f"possible etag mismatch. error from state store: {exc}",
                )
        return Empty()

    async def DeleteState(self, request, context):
        store = await self._store(request.store_name, context)
        await self._check_key(request.key, context)
        etag = request.etag.value if request.HasField("etag") else None
        if request.HasField("options") and request.options.concurrency == LAST_WRITE:
            etag = None
        try:
            await store.delete(request.key, etag=etag)
        except ETagMismatch as exc:
            await context.abort(
                grpc.StatusCode.ABORTED,
                f"failed deleting state with key {request.key}: "
                f"possible etag mismatch. error from state store: {exc}",
            )
        return Empty()

    async def ExecuteStateTransaction(self, request, context):
        store = await self._store(request.storeName, context)
        ops = []
        for op in request.operations:
            item = op.request
            await self._check_key(item.key, context)
            etag = item.etag.value if item.HasField("etag") else None
            if op.operationType == "upsert":
                try:
                    ttl = _ttl(item.metadata)
                except ValueError as exc:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                ops.append(StateOp.upsert(item.key, _encode(item.value), etag=etag, ttl_s=ttl))
            elif op.operationType == "delete":
                ops.append(StateOp.remove(item.key, etag=etag))
            else:
                await context.abort(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"operation type {op.operationType} not supported",
                )
        try:
            await store.transact(ops)
        except ETagMismatch as exc:
            await context.abort(  # daprd reports a failed transaction as INTERNAL
                grpc.StatusCode.INTERNAL,
                "error while executing state transaction: "
                f"possible etag mismatch. error from state store: {exc}",
            )
        return Empty()

    async def PublishEvent(self, request, context):
        if request.pubsub_name not in self.d.brokers:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"pubsub {request.pubsub_name} not found"
            )
        if not request.topic:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "topic is empty")
        envelope = _envelope(self.d.config.app_id, request)
        if isinstance(envelope, str):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, envelope)
        broker = self.d.brokers[request.pubsub_name]
        await broker.publish(request.pubsub_name, request.topic, orjson.dumps(envelope))
        return Empty()

    async def GetSecret(self, request, context):
        if request.store_name not in self.d.secret_stores:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failed finding secret store with key {request.store_name}",
            )
        if not self.d.secret_allowed(request.store_name, request.key):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f'access denied by policy to get "{request.key}" from "{request.store_name}"',
            )
        try:
            data = await self.d.secret(request.store_name, request.key)
        except Exception as exc:  # the API refused (403) or could not be reached
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"failed getting secret with key {request.key} from secret store "
                f"{request.store_name}: {exc}",
            )
        if data is None:
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"failed getting secret with key {request.key} from secret store "
                f'{request.store_name}: secrets "{request.key}" not found',
            )
        return api_v1.GetSecretResponse(data=data)

    async def GetMetadata(self, request, context):
        return api_v1.GetMetadataResponse(**_metadata(self.d))


def _envelope(app_id: str, request: Any) -> dict[str, Any] | str:
    """The CloudEvent to put on the broker, as daprd builds it (or an error text)."""
    content_type = request.data_content_type or "application/json"
    meta = dict(request.metadata)
    if content_type.startswith("application/cloudevents+json"):
        try:
            event = orjson.loads(request.data)
        except orjson.JSONDecodeError as exc:
            return f"error when publishing to topic {request.topic}: not a CloudEvent: {exc}"
        if not isinstance(event, dict) or not all(
            event.get(k) for k in ("id", "source", "specversion", "type")
        ):
            return "a CloudEvent needs id, source, specversion and type"
    else:
        try:
            data: Any = orjson.loads(request.data) if "json" in content_type else None
        except orjson.JSONDecodeError:
            data = None
        if data is None:
            data = request.data.decode("utf-8", "replace")
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": app_id,
            "type": "com.dapr.event.sent",
            "datacontenttype": content_type,
            "data": data,
        }
        for attribute in ("id", "source", "type", "subject", "time"):
            if f"cloudevent.{attribute}" in meta:
                event[attribute] = meta[f"cloudevent.{attribute}"]
    event["topic"] = request.topic  # daprd always sets these two
    event["pubsubname"] = request.pubsub_name
    return event


def _metadata(double: SidecarDouble) -> dict[str, Any]:
    config = double.config
    components = [
        api_v1.RegisteredComponents(name=name, type=type_, version=version)
        for name, (type_, version) in double.component_types.items()
    ]
    subscriptions = [
        api_v1.PubsubSubscription(
            pubsub_name=route.pubsub,
            topic=route.topic,
            dead_letter_topic=route.dead_letter_topic or "",
            metadata={"consumerID": route.consumer},
        )
        for broker in double._unique_brokers()
        for route in broker.routes
    ]
    return {
        "id": config.app_id,
        "runtime_version": RUNTIME_VERSION,
        "registered_components": components,
        "subscriptions": subscriptions,
    }


# ----------------------------------------------------------------------------- HTTP API


def _http_api(double: SidecarDouble) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)

    async def healthz(request: web.Request) -> web.Response:
        if double.app_ready.is_set():
            return web.Response(status=204)
        message = double.app_error or "waiting for the app"
        return web.json_response(
            {"errorCode": "ERR_HEALTH_NOT_READY", "message": message}, status=500
        )

    async def healthz_outbound(request: web.Request) -> web.Response:
        return web.Response(status=204)  # components are up once the server listens

    async def metadata(request: web.Request) -> web.Response:
        config = double.config
        return web.json_response(
            {
                "id": config.app_id,
                "runtimeVersion": RUNTIME_VERSION,
                "components": [
                    {"name": n, "type": t, "version": v}
                    for n, (t, v) in double.component_types.items()
                ],
                "subscriptions": [
                    {
                        "pubsubname": r.pubsub,
                        "topic": r.topic,
                        "route": r.path,
                        "deadLetterTopic": r.dead_letter_topic or "",
                    }
                    for b in double._unique_brokers()
                    for r in b.routes
                ],
            }
        )

    async def invoke(request: web.Request) -> web.StreamResponse:
        """A call from this double's own app: to itself, or on to the target's double."""
        app_id = request.match_info["app_id"]
        # The path (and query) as the caller encoded it: forwarded byte for byte, never
        # decoded, re-encoded or cleaned of dot segments on the way.
        path = _method_path(request, f"/v1.0/invoke/{app_id}/method")
        if path is None:
            return _invoke_error(app_id, f"not an invocation path: {request.raw_path!r}")
        base = await double.resolve(app_id)
        if base is None:
            return _invoke_error(app_id, "app id not found")
        headers = _passed_on(request)
        if double.is_own(app_id):
            return await _deliver(request, double, path, headers)
        # As daprd over mTLS: the caller's identity is this double's, never a header's.
        headers += [
            (PEER_HEADER, double.peer_secret),
            ("dapr-caller-app-id", double.config.app_id),
            (CALLER_NAMESPACE_HEADER, double.config.namespace),
        ]
        target = app_id.partition(".")[0]
        return await _forward(
            request, double, app_id, f"{base}/_peer/{target}/method{path}", headers
        )

    async def peer_invoke(request: web.Request) -> web.StreamResponse:
        """A call from another double for this double's app: access control, then the app."""
        app_id = request.match_info["app_id"]
        if request.headers.get(PEER_HEADER) != double.peer_secret or app_id != double.config.app_id:
            return _invoke_error(app_id, "not a sidecar of this cluster", status=401)
        path = _method_path(request, f"/_peer/{app_id}/method")
        if path is None:
            return _invoke_error(app_id, f"not an invocation path: {request.raw_path!r}")
        caller = request.headers.get("dapr-caller-app-id", "")
        namespace = request.headers.get(CALLER_NAMESPACE_HEADER, "")
        operation = path.split("?", 1)[0]
        if not double.config.access_control.allows(caller, namespace, request.method, operation):
            return _invoke_error(
                app_id,
                "rpc error: code = PermissionDenied desc = access control policy has denied "
                f"access to appid: {caller} operation: {operation} verb: {request.method}",
                status=403,
            )
        headers = [(k, v) for k, v in _passed_on(request) if k.lower() != PEER_HEADER]
        headers += [("dapr-caller-app-id", caller), (CALLER_NAMESPACE_HEADER, namespace)]
        return await _deliver(request, double, path, headers)

    app.router.add_get("/v1.0/healthz", healthz)
    app.router.add_get("/v1.0/healthz/outbound", healthz_outbound)
    app.router.add_get("/v1.0/metadata", metadata)
    app.router.add_route("*", "/v1.0/invoke/{app_id}/method/{path:.*}", invoke)
    app.router.add_route("*", "/_peer/{app_id}/method/{path:.*}", peer_invoke)
    return app


# Headers a caller must not set itself: the double sets them from what it knows.
_SIDECAR_SET = {APP_TOKEN_HEADER, "dapr-caller-app-id", "dapr-callee-app-id"}


def _method_path(request: web.Request, prefix: str) -> str | None:
    raw = request.raw_path
    return raw[len(prefix) :] if raw.startswith(prefix + "/") else None


def _passed_on(request: web.Request) -> list[tuple[str, str]]:
    return [
        (k, v)
        for k, v in request.headers.items()
        if k.lower() not in HOP_BY_HOP
        and k.lower() not in _SIDECAR_SET
        and k.lower() != CALLER_NAMESPACE_HEADER
    ]


async def _deliver(
    request: web.Request, double: SidecarDouble, path: str, headers: list[tuple[str, str]]
) -> web.StreamResponse:
    """Hand the call to this double's own app, as daprd does: with the app API token."""
    app_id = double.config.app_id
    if double.config.app_port is None:
        return _invoke_error(app_id, "app id not found")
    headers = [*headers, ("dapr-callee-app-id", app_id)]
    if double.config.app_token:
        headers.append((APP_TOKEN_HEADER, double.config.app_token))
    if double.config.record_invocations:
        await double.record_invocation(request.method, path)
    url = f"http://{double.config.app_host}:{double.config.app_port}{path}"
    return await _forward(request, double, app_id, url, headers)


async def _forward(
    request: web.Request,
    double: SidecarDouble,
    app_id: str,
    url: str,
    headers: list[tuple[str, str]],
) -> web.StreamResponse:
    assert double._http is not None
    try:
        async with double._http.request(
            request.method,
            URL(url, encoded=True),
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
        ) as upstream:
            body = await upstream.read()
            out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
            response = web.Response(status=upstream.status, body=body)
            for key, value in out:
                response.headers.add(key, value)
            return response
    except (aiohttp.ClientError, OSError) as exc:
        return _invoke_error(app_id, repr(exc))


def _invoke_error(app_id: str, reason: str, *, status: int = 500) -> web.Response:
    return web.json_response(
        {
            "errorCode": "ERR_DIRECT_INVOKE",
            "message": f"failed to invoke, id: {app_id}, err: {reason}",
        },
        status=status,
    )


def _decoded(value: bytes | str | None) -> str:
    """A Redis answer as text ("" for none): it answers bytes here (no decode_responses),
    though its types allow str too."""
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
