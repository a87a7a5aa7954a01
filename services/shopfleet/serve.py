"""`shopfleet serve <service>`: one service (or the gateway) in its own process, as its
container runs it. `shopfleet migrate <service>` is the same service's schema step alone.

What one process needs, and where it comes from:

- **the app**: `SERVICES[name]` builds it (the gateway: `gateway.app.Gateway`, with every
  service of `SERVICES` behind it); the app-id is the service's name.
- **building blocks** (`SHOPFLEET_BLOCKS`): `dapr` in a container: the Dapr adapters talk to
  the sidecar on the ports the injector puts in `DAPR_GRPC_PORT` / `DAPR_HTTP_PORT`, with
  the component names of `components/` (`SHOPFLEET_DAPR_PUBSUB`, `_STATE_STORE`,
  `_SECRET_STORE` change them). `local`: the in-process adapters on the data dir (SQLite
  state and pub/sub, which several processes on one data dir share; invocation reaches
  only this process's own app): a quick run without a sidecar, and the tests.
- **its database**: `SHOPFLEET_<SERVICE>_DATABASE_URL` (PostgreSQL in a cluster); default a
  SQLite file in the data dir.
- **its schema**: migrated at start-up (safe with many replicas: `Database.migrate` holds
  an advisory lock), unless `--no-migrate`, when a `shopfleet migrate` Job or initContainer
  does it; then start-up checks that the schema is at the newest revision and refuses to
  start (saying which command to run) if not, instead of failing request by request.
- **shutdown**: on SIGTERM uvicorn stops accepting connections, lets in-flight requests
  finish (up to `--graceful-timeout`), then the lifespan stops the app (its outbox relay
  publishes what is pending before it stops), then the building blocks close. The process
  exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from shopfleet.kit.blocks import Blocks
from shopfleet.kit.callers import service_blocks
from shopfleet.kit.gc_tuning import settle_after_start
from shopfleet.kit.lifespan import answer_lifespan
from shopfleet.kit.settings import PlatformSettings, ServiceSettings, secret
from shopfleet.services import SERVICES

log = structlog.get_logger("shopfleet.serve")
KEEP_ALIVE_S = 120

GATEWAY = "gateway"


def served_names() -> tuple[str, ...]:
    """What `serve` accepts: the gateway, then every registered service."""
    return (GATEWAY, *SERVICES)


class DaprSettings(BaseSettings):
    """Where the sidecar listens and which components to use (`SHOPFLEET_DAPR_*`).

    The ports are read from the variables the Dapr sidecar injector sets on the app's
    container; the component names are those of `components/`.
    """

    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_DAPR_", extra="ignore")

    grpc_port: int = Field(
        default=50001, validation_alias=AliasChoices("DAPR_GRPC_PORT", "SHOPFLEET_DAPR_GRPC_PORT")
    )
    http_port: int = Field(
        default=3500, validation_alias=AliasChoices("DAPR_HTTP_PORT", "SHOPFLEET_DAPR_HTTP_PORT")
    )
    pubsub: str = "pubsub"
    state_store: str = "statestore"
    secret_store: str = "secretstore"


# ----------------------------------------------------------------------------- migrations


def migrations_dir(name: str) -> Path | None:
    """The service's alembic directory, or None for a service without a database."""
    module = importlib.import_module(f"{SERVICES[name].module}.app")
    path = getattr(module, "MIGRATIONS", None)
    return Path(path) if path is not None else None


def service_settings(name: str, platform: PlatformSettings) -> ServiceSettings:
    return SERVICES[name].settings_type()(platform=platform)


def shown_url(url: str) -> str:
    """A database URL fit for a log line or a terminal (password hidden)."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Migrated:
    service: str
    url: str | None  # None: the service keeps no relational data
    revision: str | None = None


async def migrate(name: str, platform: PlatformSettings) -> Migrated:
    """Bring `name`'s database to the newest revision (idempotent; safe from many replicas)."""
    from shopfleet.kit.db import Database

    path = migrations_dir(name)
    if path is None:
        return Migrated(name, None)
    settings = service_settings(name, platform)
    db = Database.for_service(name, settings, path)
    try:
        await db.migrate()
        current, _ = await schema_revisions(db)
    finally:
        await db.dispose()
    return Migrated(name, shown_url(settings.resolved_database_url(name)), ",".join(current))


async def schema_revisions(db: Any) -> tuple[list[str], list[str]]:
    """(revisions the database is at, newest revisions of the migrations), each sorted."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    async with db.engine.connect() as conn:
        current = await conn.run_sync(
            lambda sync: list(MigrationContext.configure(sync).get_current_heads())
        )
    heads = list(ScriptDirectory(str(db.migrations)).get_heads())
    return sorted(current), sorted(heads)


class SchemaNotReady(RuntimeError):
    pass


async def require_schema(name: str, settings: ServiceSettings) -> None:
    """With `--no-migrate`: refuse to start on a database that is not at the newest revision."""
    from shopfleet.kit.db import Database

    path = migrations_dir(name)
    if path is None:
        return
    db = Database.for_service(name, settings, path)
    try:
        current, heads = await schema_revisions(db)
    finally:
        await db.dispose()
    if current != heads:
        raise SchemaNotReady(
            f"{name}'s database ({shown_url(settings.resolved_database_url(name))}) is at "
            f"revision {', '.join(current) or '(none)'}, the code needs {', '.join(heads)}: "
            f"run `shopfleet migrate {name}` first (or serve without --no-migrate)."
        )


# ----------------------------------------------------------------------------- blocks


@asynccontextmanager
async def open_blocks(
    name: str, platform: PlatformSettings
) -> AsyncIterator[tuple[Blocks, Callable[[str, ASGIApp], None] | None]]:
    """The building blocks of one process, and (local only) a way to make an app invocable.

    Closed in reverse: pub/sub after the app stopped (its relay publishes while stopping).
    """
    async with AsyncExitStack() as stack:
        if platform.blocks == "dapr":
            # imported only when used: the local path needs neither grpc nor the SDK
            from shopfleet.kit.blocks.dapr import close_dapr_blocks, dapr_blocks

            dapr = DaprSettings()
            blocks = dapr_blocks(
                platform,
                app_id=name,
                grpc_port=dapr.grpc_port,
                http_port=dapr.http_port,
                pubsub_name=dapr.pubsub,
                state_name=dapr.state_store,
                secret_store=dapr.secret_store,
            )
            stack.push_async_callback(close_dapr_blocks, blocks)
            yield blocks, None
            return
        from shopfleet.kit.blocks.embedded import open_state_store
        from shopfleet.kit.blocks.local import LocalPubSub, LocalSecrets
        from shopfleet.kit.blocks.local.invoker import LocalInvoker

        data = platform.data_dir
        data.mkdir(parents=True, exist_ok=True)
        state = await open_state_store(platform)
        stack.push_async_callback(state.close)
        pubsub = LocalPubSub(data / "pubsub.db")
        stack.push_async_callback(pubsub.stop)
        invoker = LocalInvoker(default_timeout_s=platform.call_timeout_s)
        blocks = Blocks(
            state=state, pubsub=pubsub, invoker=invoker, secrets=LocalSecrets(data / "secrets.json")
        )
        yield blocks, invoker.register


# ----------------------------------------------------------------------------- the process


class ServedApp:
    """The ASGI app uvicorn runs: one service's app inside a lifespan that opens the
    building blocks before the app starts and closes them after it stopped."""

    def __init__(self, name: str, platform: PlatformSettings, *, freeze_gc: bool = True) -> None:
        if name not in served_names():
            raise ValueError(f"unknown service {name!r}; choose one of {', '.join(served_names())}")
        self.name = name
        self.platform = platform
        self.freeze_gc = freeze_gc
        self.app: ASGIApp | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ServedApp]:
        async with AsyncExitStack() as stack:
            blocks, register = await stack.enter_async_context(
                open_blocks(self.name, self.platform)
            )
            if self.name == GATEWAY:
                from shopfleet.gateway.app import Gateway
                from shopfleet.gateway.settings import GatewaySettings

                gateway = Gateway(
                    GatewaySettings(platform=self.platform),
                    blocks,
                    services=frozenset(SERVICES),
                )
                inner = gateway.platform_app
                await stack.enter_async_context(inner.router.lifespan_context(inner))
                self.app = gateway
            else:
                settings = service_settings(self.name, self.platform)
                if not self.platform.migrate_on_start:
                    await require_schema(self.name, settings)
                token = secret(self.platform.service_token)
                app = SERVICES[self.name].build(settings, service_blocks(blocks, token))
                if register is not None:
                    register(self.name, app)
                await stack.enter_async_context(app.router.lifespan_context(app))
                self.app = app
            await blocks.pubsub.start()  # after the app declared its subscriptions
            if self.freeze_gc:
                settle_after_start(self.platform.gc_gen0_threshold)
            log.info(
                "serve.started", service=self.name, blocks=self.platform.blocks, pid=os.getpid()
            )
            yield self
            log.info("serve.stopping", service=self.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send, self.running, name="serve", service=self.name)
            return
        assert self.app is not None, "the service has not started"
        await self.app(scope, receive, send)


class JsonLogFormatter(logging.Formatter):
    """Standard-library records (uvicorn's, alembic's) as one JSON object per line, in the
    shape of our structlog lines, so a JSON log has no plain-text lines in it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_process_logging(platform: PlatformSettings) -> None:
    from shopfleet.kit.telemetry import configure_logging

    configure_logging(platform.log_level, platform.log_format)
    # alembic announces each of its plugins at INFO on every start: not news
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if platform.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLogFormatter())


def run(
    name: str,
    platform: PlatformSettings,
    *,
    host: str = "0.0.0.0",
    port: int = 8000,
    graceful_timeout_s: float = 20.0,
) -> bool:
    """Serve until SIGTERM/SIGINT; False if the service failed to start."""
    import uvicorn

    from shopfleet.kit.server import server_config
    from shopfleet.kit.telemetry import metrics_listener

    if platform.blocks == "local":
        from shopfleet.platform import ensure_platform_token

        platform = ensure_platform_token(platform)
    elif platform.platform_token is None:
        log.warning(
            "serve.no_platform_token",
            service=name,
            detail="SHOPFLEET_PLATFORM_TOKEN is not set: internal platform endpoints refuse "
            "every caller",
        )
    served = ServedApp(name, platform)
    server = uvicorn.Server(
        server_config(
            served,
            platform,
            host=host,
            port=port,
            timeout_graceful_shutdown=graceful_timeout_s,
            # Longer than the sidecar keeps an idle pooled connection (Go's default: 90 s),
            # so it is always the sidecar that closes one. With uvicorn's 5 s a call could
            # go out on a connection the app was closing at that moment, and fail as "the
            # service is unavailable" (seen in the multi-process tests).
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )
    # uvicorn re-raises the signal that stopped it once it has shut down; with the default
    # SIGTERM action that would kill the process after a clean shutdown (exit -15, not 0).
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with (
            metrics_listener(platform.metrics_host, platform.metrics_port),
            contextlib.suppress(KeyboardInterrupt),
        ):
            asyncio.run(server.serve())
    except SystemExit as exit_:  # uvicorn's "start-up failed" (3) or "cannot bind" (1)
        if exit_.code not in (0, None):
            return False
    finally:
        signal.signal(signal.SIGTERM, previous)
    return bool(server.started)
