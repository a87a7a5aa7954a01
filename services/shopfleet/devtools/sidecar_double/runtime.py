"""Components from Dapr resources, initialised as daprd initialises them.

`ComponentLoader.load(resources)` resolves each component's `secretKeyRef`s through its
`auth.secretStore` (the built-in `kubernetes` store when none is named), reads its metadata
as the real component does, and opens it (connects, authenticates, creates tables). A
component that fails raises `ComponentLoadError` unless it says `ignoreErrors: true`, in which
case it is skipped with an error line, as daprd does. Secret stores load first, so that the
other components can use them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from shopfleet.devtools.sidecar_double.errors import ComponentLoadError
from shopfleet.devtools.sidecar_double.metadata_values import flag, integer, seconds
from shopfleet.devtools.sidecar_double.resources import (
    ComponentSpec,
    Resources,
    unknown_key_warnings,
)
from shopfleet.devtools.sidecar_double.secret_stores import (
    SERVICEACCOUNT_DIR,
    KubernetesSecretStore,
    SecretStore,
)

BUILTIN_K8S_STORE = "kubernetes"


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PubsubSettings:
    """What the double's broker honours of a `pubsub.rabbitmq` component."""

    name: str
    amqp_url: str
    durable: bool = True
    auto_delete: bool = True  # deletedWhenUnused (the component's default is true)
    persistent: bool = False  # deliveryMode 2
    publisher_confirms: bool = False
    prefetch: int = 0
    requeue_in_failure: bool = False
    dead_letter: bool = False
    consumer_id: str | None = None
    reconnect_wait_s: float = 3.0
    exchange_kind: str = "fanout"
    topic_prefix: str = ""  # the namespace, when `{namespace}` scopes the topics


@dataclass
class Loaded:
    state: dict[str, Any] = field(default_factory=dict)  # name -> Redis/PostgresStateStore
    pubsubs: dict[str, PubsubSettings] = field(default_factory=dict)
    secrets: dict[str, SecretStore] = field(default_factory=dict)
    types: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, version)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # components skipped (ignoreErrors)

    async def close(self) -> None:
        for store in self.state.values():
            await store.close()
        for secret_store in self.secrets.values():
            await secret_store.close()


class ComponentLoader:
    """Loads one sidecar's components (see the module docstring)."""

    def __init__(
        self,
        *,
        app_id: str,
        namespace: str,
        prefix: str = "",
        kubernetes_mode: bool = False,
        builtin_k8s_store: bool = True,
        serviceaccount_dir: Path = SERVICEACCOUNT_DIR,
        environ: dict[str, str] | None = None,
        log: Callable[[str, str], None] = lambda level, line: None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.prefix = prefix
        self.kubernetes_mode = kubernetes_mode
        self.builtin_k8s_store = builtin_k8s_store
        self.serviceaccount_dir = serviceaccount_dir
        self.environ = environ
        self.log = log
        self.clock = clock

    async def load(self, resources: Resources) -> Loaded:
        loaded = Loaded()
        mine = resources.for_app(self.app_id).components
        if self.kubernetes_mode and self.builtin_k8s_store:
            # daprd in Kubernetes mode adds the built-in store unless the pod's
            # dapr.io/disable-builtin-k8s-secret-store annotation says otherwise.
            builtin = ComponentSpec(BUILTIN_K8S_STORE, "secretstores.kubernetes", "v1", ())
            if all(c.name != BUILTIN_K8S_STORE for c in mine):
                mine = [builtin, *mine]
        ordered = sorted(mine, key=lambda c: c.kind != "secretstores")
        for spec in ordered:
            for line in unknown_key_warnings(spec):
                loaded.warnings.append(line)
                self.log("warning", line)
            try:
                await self._load_one(spec, loaded)
            except Exception as exc:
                message = (
                    f"process component {spec.name} error: [INIT_COMPONENT_FAILURE]: "
                    f"initialization error occurred for {spec.label}: {exc}"
                )
                if spec.ignore_errors:
                    loaded.errors.append(message)
                    self.log("error", f"{message} (ignoreErrors: skipped)")
                    continue
                self.log("fatal", message)
                await loaded.close()
                raise ComponentLoadError(message) from exc
            loaded.types[spec.name] = (spec.type, spec.version)
            self.log("info", f"component loaded: {spec.name} ({spec.type}/{spec.version})")
        return loaded

    def _template(self, name: str, value: str) -> str:
        """daprd's templated metadata values (pkg/runtime/meta): `{uuid}` a new UUID each,
        `{podName}` the pod's name (POD_NAME; daprd exits without one), `{namespace}`
        `<namespace>.<app-id>` (not the bare namespace), `{appID}` the app-id; in every
        value, those read from secrets included (daprd templates after resolving them)."""
        import uuid

        while "{uuid}" in value:
            value = value.replace("{uuid}", str(uuid.uuid4()), 1)
        if "{podName}" in value:
            environ = os.environ if self.environ is None else self.environ
            pod_name = environ.get("POD_NAME") or ""
            if not pod_name:
                raise ComponentLoadError(
                    f"failed to parse metadata: property {name} refers to {{podName}} but "
                    "podName is not set"
                )
            value = value.replace("{podName}", pod_name)
        value = value.replace("{namespace}", f"{self.namespace}.{self.app_id}")
        return value.replace("{appID}", self.app_id)

    async def _resolve(self, spec: ComponentSpec, loaded: Loaded) -> dict[str, str]:
        if spec.operator_error:
            raise ComponentLoadError(spec.operator_error)
        values: dict[str, str] = {}
        for item in spec.items:
            if item.secret_ref is None:
                values[item.name] = self._template(item.name, item.value or "")
                continue
            store_name = spec.secret_store or BUILTIN_K8S_STORE
            store = loaded.secrets.get(store_name)
            if store is None:
                raise ComponentLoadError(
                    f"secret store {store_name} not found (needed for {item.name})"
                )
            name, key = item.secret_ref
            data = await store.get(name)
            if key not in data:
                raise ComponentLoadError(f"secret {name} has no key {key}")
            values[item.name] = self._template(item.name, data[key])
        return values

    async def _load_one(self, spec: ComponentSpec, loaded: Loaded) -> None:
        timeout = seconds(spec.init_timeout, 5.0)
        await asyncio.wait_for(self._init(spec, loaded), timeout)

    async def _init(self, spec: ComponentSpec, loaded: Loaded) -> None:
        meta = await self._resolve(spec, loaded)
        if spec.type == "secretstores.kubernetes":
            store = KubernetesSecretStore(
                spec.name,
                namespace=meta.get("defaultNamespace") or self.namespace,
                serviceaccount_dir=self.serviceaccount_dir,
                environ=self.environ,
            )
            if meta.get("kubeconfigPath"):
                raise ComponentLoadError("kubeconfigPath is not supported by the double")
            await store.open()
            loaded.secrets[spec.name] = store
        elif spec.type == "state.redis":
            loaded.state[spec.name] = await self._redis_state(spec, meta)
        elif spec.type == "state.postgresql":
            loaded.state[spec.name] = await self._postgres_state(spec, meta)
        elif spec.type == "pubsub.rabbitmq":
            loaded.pubsubs[spec.name] = await self._rabbitmq(spec, meta)
        else:
            raise ComponentLoadError(f"couldn't find component type {spec.type}/{spec.version}")

    def _key_prefix(self, spec: ComponentSpec, meta: dict[str, str]) -> str:
        """Dapr's `keyPrefix`: appid (default), name, namespace, none, or a literal."""
        mode = meta.get("keyPrefix") or "appid"
        if mode == "appid":
            base = self.app_id
        elif mode == "name":
            base = spec.name
        elif mode == "namespace":
            base = f"{self.namespace}.{self.app_id}"
        elif mode == "none":
            base = ""
        else:
            base = mode
        return f"{self.prefix}{base}"

    async def _redis_state(self, spec: ComponentSpec, meta: dict[str, str]) -> Any:
        from shopfleet.kit.blocks.redis_state import RedisStateStore

        host = meta.get("redisHost")
        if not host:
            raise ComponentLoadError("redisHost is required")
        scheme = "rediss" if flag(meta.get("enableTLS"), False) else "redis"
        user = quote(meta.get("redisUsername") or "", safe="")
        password = quote(meta.get("redisPassword") or "", safe="")
        auth = f"{user}:{password}@" if (user or password) else ""
        url = f"{scheme}://{auth}{host}/{integer(meta.get('redisDB'), 0)}"
        prefix = self._key_prefix(spec, meta) or "none"
        store = RedisStateStore(
            url,
            key_prefix=prefix,
            clock=self.clock,
            connect_timeout_s=seconds(meta.get("dialTimeout"), 5.0),
            timeout_s=seconds(meta.get("readTimeout"), 3.0) or 3.0,
        )
        try:
            await store.open()
        except Exception:
            await store.close()
            raise
        return store

    async def _postgres_state(self, spec: ComponentSpec, meta: dict[str, str]) -> Any:
        from shopfleet.devtools.sidecar_double.pgstate import PostgresStateStore, libpq_to_dsn

        dsn = meta.get("connectionString") or ""
        overrides = {
            k: meta[k] for k in ("host", "port", "database", "user", "password") if meta.get(k)
        }
        if overrides:
            key = {"database": "dbname"}
            dsn = " ".join([dsn, *(f"{key.get(k, k)}={v}" for k, v in overrides.items())]).strip()
        if not dsn:
            raise ComponentLoadError("missing connection string")
        if spec.version == "v2":
            table = f"{meta.get('tablePrefix') or ''}state"
        else:
            table = meta.get("tableName") or "state"
        store = PostgresStateStore(
            libpq_to_dsn(dsn),
            table=table,
            key_prefix=self._key_prefix(spec, meta),
            timeout_s=seconds(meta.get("timeout") or meta.get("timeoutInSeconds"), 20.0),
            cleanup_interval_s=seconds(
                meta.get("cleanupInterval") or meta.get("cleanupIntervalInSeconds"), 3600.0
            ),
            max_conns=integer(meta.get("maxConns"), 4),
            clock=self.clock,
        )
        await store.open()
        return store

    async def _rabbitmq(self, spec: ComponentSpec, meta: dict[str, str]) -> PubsubSettings:
        import aio_pika

        url = meta.get("connectionString") or meta.get("host")
        if not url:
            protocol = meta.get("protocol") or "amqp"
            host = meta.get("hostname") or "localhost"
            user, password = meta.get("username") or "", meta.get("password") or ""
            creds = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
            url = f"{protocol}://{creds}{host}"
        mode = integer(meta.get("deliveryMode"), 0)
        if not 0 <= mode <= 2:
            raise ComponentLoadError(
                "rabbitmq pub/sub error: invalid RabbitMQ delivery mode, accepted values are "
                "between 0 and 2"
            )
        kind = meta.get("exchangeKind") or "fanout"
        if kind not in {"fanout", "topic", "direct", "headers"}:
            raise ComponentLoadError(
                f"rabbitmq pub/sub error: invalid RabbitMQ exchange kind {kind}"
            )
        connection = await aio_pika.connect(url, timeout=10)  # init: the broker must answer
        await connection.close()
        return PubsubSettings(
            name=spec.name,
            amqp_url=url,
            durable=flag(meta.get("durable"), True),
            auto_delete=flag(meta.get("deletedWhenUnused"), True),
            persistent=mode == 2,
            publisher_confirms=flag(meta.get("publisherConfirm"), False),
            prefetch=integer(meta.get("prefetchCount"), 0),
            requeue_in_failure=flag(meta.get("requeueInFailure"), False),
            dead_letter=flag(meta.get("enableDeadLetter"), False),
            # daprd gives every pub/sub a consumerID, the app-id unless the component says
            # otherwise; pubsub.rabbitmq names its queues `<consumerID>-<topic>` from it
            # (a subscription's own `consumerID` metadata is not read).
            consumer_id=(meta.get("consumerID") or "").strip() or self.app_id,
            reconnect_wait_s=seconds(meta.get("reconnectWaitSeconds"), 3.0),
            exchange_kind=kind,
            # daprd: `{namespace}` in any plain metadata value scopes the component's
            # topics to the namespace (published and subscribed as `<namespace><topic>`).
            topic_prefix=(
                self.namespace if any("{namespace}" in (i.value or "") for i in spec.items) else ""
            ),
        )
