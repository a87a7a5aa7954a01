"""The embedded platform: the gateway and every service in one process.

Local building blocks (SQLite state and pub/sub, in-process invocation), one SQLite
database per service, all in one data directory. It behaves like the cluster: the same
apps, the same routes, the same events; only the adapters differ.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from shopfleet.gateway.app import Gateway
from shopfleet.gateway.routes import RouteFile
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.blocks.embedded import open_state_store
from shopfleet.kit.blocks.local import LocalPubSub, LocalSecrets
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.callers import service_blocks
from shopfleet.kit.gc_tuning import settle_after_start
from shopfleet.kit.lifespan import answer_lifespan
from shopfleet.kit.private_files import owner_only_umask, private_dir, tighten_tree
from shopfleet.kit.service import identity_jwks_verifier
from shopfleet.kit.settings import PlatformSettings, secret
from shopfleet.services import SERVICES

log = structlog.get_logger("shopfleet.platform")


def ensure_platform_token(platform: PlatformSettings) -> PlatformSettings:
    """Use SHOPFLEET_PLATFORM_TOKEN, or a random token kept (0600) in the data dir."""
    if platform.platform_token is not None:
        return platform
    path = platform.data_dir / "platform-token"
    if not path.exists():
        private_dir(platform.data_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return platform.model_copy(update={"platform_token": SecretStr(path.read_text().strip())})


@dataclass(frozen=True)
class DemoCredentials:
    admin_email: str
    admin_password: str
    shopper_email: str
    shopper_password: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> DemoCredentials:
        path = data_dir / "demo-credentials.json"
        if path.exists():
            return cls(**orjson.loads(path.read_bytes()))
        creds = cls(
            admin_email="admin@demo.shopfleet.dev",
            admin_password=secrets.token_urlsafe(12),
            shopper_email="shopper@demo.shopfleet.dev",
            shopper_password=secrets.token_urlsafe(12),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(creds.__dict__, option=orjson.OPT_INDENT_2))
        return creds


class EmbeddedPlatform:
    """An ASGI app (for uvicorn) whose lifespan starts every service, then the gateway."""

    def __init__(
        self,
        platform: PlatformSettings,
        *,
        gateway_settings: GatewaySettings | None = None,
        services: Sequence[str] | None = None,
        seed_demo: bool = True,
        freeze_gc: bool = False,
        database_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.platform = ensure_platform_token(platform)
        if self.platform.service_token is None:  # one process: a credential of this run
            token = SecretStr(secrets.token_urlsafe(32))
            self.platform = self.platform.model_copy(update={"service_token": token})
        self.gateway_settings = gateway_settings or GatewaySettings(platform=self.platform)
        self.gateway_settings = self.gateway_settings.model_copy(update={"platform": self.platform})
        self.service_names = list(services or SERVICES)
        self.seed_demo = seed_demo
        self.database_urls = dict(database_urls or {})  # per service; default SQLite in data_dir
        self.freeze_gc = freeze_gc
        self.apps: dict[str, FastAPI] = {}
        self.gateway: Gateway | None = None
        self.blocks: Blocks | None = None
        self.demo: DemoCredentials | None = None
        self.metrics_url: str | None = None  # where `shopfleet up` serves metrics, if it does

    @property
    def routes(self) -> RouteFile:
        """The gateway's route table (so a change takes effect at once)."""
        if self.gateway is not None:
            return self.gateway.routes
        return RouteFile(self.gateway_settings.resolved_routes_file())

    @asynccontextmanager
    async def running(self) -> AsyncIterator[EmbeddedPlatform]:
        data = self.platform.data_dir
        # Keys, password hashes and secrets live here: the owner's only, also what an older
        # version left readable, and everything created from now on (umask).
        tighten_tree(data)
        async with AsyncExitStack() as stack:
            stack.enter_context(owner_only_umask())
            state = await open_state_store(self.platform)
            stack.push_async_callback(state.close)
            pubsub = LocalPubSub(data / "pubsub.db")
            stack.push_async_callback(pubsub.stop)  # runs after the services stopped their relays
            invoker = LocalInvoker(default_timeout_s=self.platform.call_timeout_s)
            self.blocks = Blocks(
                state=state,
                pubsub=pubsub,
                invoker=invoker,
                secrets=LocalSecrets(data / "secrets.json"),
            )
            # One verifier for all: identity updates its session view before it answers.
            verifier = identity_jwks_verifier(
                self.blocks, self.platform, in_process_identity="identity" in self.service_names
            )
            # Services log no access lines of their own here: the gateway logs each request once.
            quiet = self.platform.model_copy(update={"access_log": False})
            for name in self.service_names:
                spec = SERVICES[name]
                overrides: dict[str, Any] = (
                    {"database_url": self.database_urls[name]} if name in self.database_urls else {}
                )
                settings = spec.settings_type()(platform=quiet, **overrides)
                built_with = service_blocks(self.blocks, secret(self.platform.service_token))
                app = spec.build(settings, built_with, verifier=verifier)
                await stack.enter_async_context(app.router.lifespan_context(app))
                invoker.register(name, app)
                self.apps[name] = app
            self.gateway = Gateway(
                self.gateway_settings,
                self.blocks,
                services=frozenset(self.service_names),
                verifier=verifier,
            )
            await stack.enter_async_context(
                self.gateway.platform_app.router.lifespan_context(self.gateway.platform_app)
            )
            await pubsub.start()  # after every service declared its subscriptions
            if self.seed_demo:
                from shopfleet.seed import seed_demo_shop

                self.demo = await seed_demo_shop(self)
            if self.freeze_gc:
                settle_after_start(self.platform.gc_gen0_threshold)
            yield self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send, self.running, name="platform")
            return
        assert self.gateway is not None, "the platform has not started"
        await self.gateway(scope, receive, send)
