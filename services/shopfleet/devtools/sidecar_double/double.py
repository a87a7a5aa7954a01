"""`SidecarDouble`: one app's stand-in Dapr sidecar (see README.md in this folder)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import aiohttp
import grpc
import orjson
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from dapr.proto import api_service_v1

from shopfleet.devtools.sidecar_double.broker import Broker, DeadLetterRecord, Route
from shopfleet.devtools.sidecar_double.config import (
    APP_TOKEN_HEADER,
    INVOCATION_LOG_KEY,
    SidecarConfig,
)
from shopfleet.devtools.sidecar_double.errors import SecretNotFound
from shopfleet.devtools.sidecar_double.grpc_api import DaprApi
from shopfleet.devtools.sidecar_double.http_api import http_api, metrics_api
from shopfleet.devtools.sidecar_double.runtime import ComponentLoader, Loaded
from shopfleet.devtools.sidecar_double.secret_stores import FileSecretStore
from shopfleet.devtools.sidecar_double.subscriptions import (
    declared_entry,
    read_app_subscriptions,
    routes_from,
)
from shopfleet.kit.blocks.redis_state import RedisStateStore

log = structlog.get_logger("sidecar")


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
        return [d for b in self.unique_brokers() for d in b.dead_letters]

    def unique_brokers(self) -> list[Broker]:
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
        for broker in self.unique_brokers():
            await broker.open()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._grpc = grpc.aio.server()
        api_service_v1.add_DaprServicer_to_server(DaprApi(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.config.host}:{self.grpc_port}")
        await self._grpc.start()
        self._runner = web.AppRunner(
            http_api(self), handler_cancellation=True, access_log=None, shutdown_timeout=5.0
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
            self._metrics_runner = web.AppRunner(metrics_api(self), access_log=None)
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
        for broker in self.unique_brokers():
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
                [declared_entry(doc) for doc in self._declared_subscriptions]
            )
            if self.config.app_port is not None:
                assert self._http is not None
                routes += await read_app_subscriptions(self, self._http)
            for broker in self.unique_brokers():
                await broker.subscribe([r for r in routes if r.pubsub in broker.pubsubs])
            self.app_ready.set()
            log.info("sidecar.app_ready", app_id=self.config.app_id, routes=len(routes))
        except Exception as exc:  # stays not-ready; healthz says why
            self.app_error = repr(exc)
            log.exception("sidecar.app_connect_failed", app_id=self.config.app_id)

    def routes_from(self, entries: list[dict[str, Any]]) -> list[Route]:
        """Routes from the app's `GET /dapr/subscribe` answer (v1 `route` or v2 `routes`)."""
        return routes_from(self, entries)

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


def _decoded(value: bytes | str | None) -> str:
    """A Redis answer as text ("" for none): it answers bytes here (no decode_responses),
    though its types allow str too."""
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
