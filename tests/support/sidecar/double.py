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

from shopfleet.kit.blocks.ports import ETagMismatch, StateOp
from shopfleet.kit.blocks.redis_state import RedisStateStore
from tests.support.sidecar.access import AccessControl
from tests.support.sidecar.broker import Broker, DeadLetterRecord, Route

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


class SidecarDouble:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.grpc_port = config.grpc_port
        self.http_port = config.http_port
        prefix = f"{config.prefix}{config.app_id}"
        self.state = RedisStateStore(config.redis_url, key_prefix=prefix, clock=config.clock)
        app_url = (
            f"http://{config.app_host}:{config.app_port}" if config.app_port is not None else None
        )
        self.broker = Broker(
            amqp_url=config.amqp_url,
            prefix=config.prefix,
            pubsubs=config.pubsubs,
            app_base_url=app_url,
            app_id=config.app_id,
            app_headers=self.app_headers(),
            default_max_attempts=config.default_max_attempts,
            retry_base_s=config.retry_base_s,
            retry_max_s=config.retry_max_s,
            prefetch=config.prefetch,
            delivery_timeout_s=config.delivery_timeout_s,
        )
        self._redis = aioredis.Redis.from_url(config.redis_url)
        self._grpc: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None
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
        return self.broker.dead_letters

    async def start(self) -> None:
        """Components first, then the APIs; the app's subscriptions load in the background
        (`/v1.0/healthz` answers 204 once they are in place; see `wait_app_ready`)."""
        await self.state.open()
        await self.broker.open()
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
        # One secret per cluster (prefix): the first double makes it, the others read it.
        secret_key = f"{self.config.prefix}peer-secret"
        await self._redis.set(secret_key, secrets.token_urlsafe(24), nx=True)
        self.peer_secret = (await self._redis.get(secret_key) or b"").decode()
        await self._redis.hset(self.registry_key, self.config.app_id, self.http_url)
        self._app_task = asyncio.create_task(self._connect_app(), name="sidecar-app")

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
        with contextlib.suppress(Exception):
            await self._redis.hdel(self.registry_key, self.config.app_id)
        await self.broker.stop(graceful=graceful)
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0 if graceful else 0)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()
        await self.state.close()
        await self._redis.aclose()

    async def crash(self) -> None:
        await self.stop(graceful=False)

    async def _connect_app(self) -> None:
        """As daprd: wait for the app port, read `GET /dapr/subscribe`, start consuming."""
        try:
            routes: list[Route] = []
            if self.config.app_port is not None:
                routes = await self._read_subscriptions()
            await self.broker.subscribe(routes)
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
            if pubsub not in self.config.pubsubs:
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
                    consumer=meta.get("consumerID") or self.config.app_id,
                    dead_letter_topic=entry.get("deadLetterTopic") or None,
                    max_attempts=int(
                        meta.get("maxDeliveryAttempts") or self.config.default_max_attempts
                    ),
                )
            )
        return routes

    # ------------------------------------------------------------------------- invocation

    async def resolve(self, app_id: str) -> str | None:
        """Base URL to send an invocation for `app_id` to: our app, or its sidecar."""
        if app_id == self.config.app_id:
            if self.config.app_port is None:
                return None
            return f"http://{self.config.app_host}:{self.config.app_port}"
        url = await self._redis.hget(self.registry_key, app_id)
        return url.decode() if url else None

    async def record_invocation(self, method: str, path: str) -> None:
        entry = {"app_id": self.config.app_id, "method": method, "path": path}
        await self._redis.rpush(f"{self.config.prefix}{INVOCATION_LOG_KEY}", orjson.dumps(entry))

    def app_headers(self) -> dict[str, str]:
        """What every call from this double to its app carries (the app API token)."""
        return {APP_TOKEN_HEADER: self.config.app_token} if self.config.app_token else {}

    # ------------------------------------------------------------------------- secrets

    def secret(self, name: str) -> dict[str, str] | None:
        path = self.config.secrets_file
        if path is None or not path.exists():
            return None
        data = orjson.loads(path.read_bytes())
        found = data.get(name)
        return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else None


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

    async def _store(self, name: str, context: grpc.aio.ServicerContext) -> RedisStateStore:
        if name not in self.d.config.state_stores:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"state store {name} is not found"
            )
        return self.d.state

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
        if request.pubsub_name not in self.d.config.pubsubs:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"pubsub {request.pubsub_name} not found"
            )
        if not request.topic:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "topic is empty")
        envelope = _envelope(self.d.config.app_id, request)
        if isinstance(envelope, str):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, envelope)
        await self.d.broker.publish(request.pubsub_name, request.topic, orjson.dumps(envelope))
        return Empty()

    async def GetSecret(self, request, context):
        if request.store_name not in self.d.config.secret_stores:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failed finding secret store with key {request.store_name}",
            )
        data = self.d.secret(request.key)
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
        *(api_v1.RegisteredComponents(name=n, type="state.redis", version="v1")
          for n in config.state_stores),
        *(api_v1.RegisteredComponents(name=n, type="pubsub.rabbitmq", version="v1")
          for n in config.pubsubs),
        *(api_v1.RegisteredComponents(name=n, type="secretstores.local.file", version="v1")
          for n in config.secret_stores),
    ]  # fmt: skip
    subscriptions = [
        api_v1.PubsubSubscription(
            pubsub_name=route.pubsub,
            topic=route.topic,
            dead_letter_topic=route.dead_letter_topic or "",
            metadata={"consumerID": route.consumer},
        )
        for route in double.broker.routes
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
                "subscriptions": [
                    {"pubsubname": r.pubsub, "topic": r.topic, "route": r.path,
                     "deadLetterTopic": r.dead_letter_topic or ""}
                    for r in double.broker.routes
                ],
            }
        )  # fmt: skip

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
        if app_id == double.config.app_id:
            return await _deliver(request, double, path, headers)
        # As daprd over mTLS: the caller's identity is this double's, never a header's.
        headers += [
            (PEER_HEADER, double.peer_secret),
            ("dapr-caller-app-id", double.config.app_id),
            (CALLER_NAMESPACE_HEADER, double.config.namespace),
        ]
        return await _forward(
            request, double, app_id, f"{base}/_peer/{app_id}/method{path}", headers
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
