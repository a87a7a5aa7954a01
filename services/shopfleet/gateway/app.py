"""The gateway: `create_app(settings, blocks, ...)` returns its ASGI app.

Layers, outside in: request context (ids, logs, metrics) → CORS → the shop proxy, which
forwards shop requests and hands everything else to the platform app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from shopfleet.gateway.api import internal_router, router
from shopfleet.gateway.openapi import OpenApiAggregator
from shopfleet.gateway.proxy import ShopProxy
from shopfleet.gateway.routes import RouteFile
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.contracts.credentials import SHOP_PLATFORM_CREDENTIAL, derived_credential
from shopfleet.kit.errors import install_problem_handlers
from shopfleet.kit.jsonlimits import JsonBounds, JsonLimits
from shopfleet.kit.service import identity_jwks_verifier
from shopfleet.kit.telemetry import RequestContext, health_router


class Gateway:
    """The gateway's ASGI app, with handles on its parts for the platform and tests."""

    def __init__(
        self,
        settings: GatewaySettings,
        blocks: Blocks,
        *,
        services: frozenset[str],
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.routes = RouteFile(settings.resolved_routes_file(), reload_s=settings.routes_reload_s)
        self.verifier = verifier or identity_jwks_verifier(blocks, settings.platform)
        aggregator = OpenApiAggregator(blocks.invoker, services, cache_s=settings.openapi_cache_s)

        async def services_ready() -> None:
            down = []
            for service in sorted(services):
                answer = await blocks.invoker.invoke(service, "GET", "/readyz", timeout_s=2)
                if answer.status != 200:
                    down.append(service)
            if down:
                raise RuntimeError("not ready: " + ", ".join(down))

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            self.routes.start()
            try:
                yield
            finally:
                await self.routes.stop()

        platform = FastAPI(
            title="shopfleet gateway",
            lifespan=lifespan,
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
        )
        platform.state.platform_token = (
            settings.platform.platform_token.get_secret_value()
            if settings.platform.platform_token
            else None
        )
        install_problem_handlers(platform)
        platform.add_middleware(JsonLimits, bounds=JsonBounds.of(settings.platform))
        platform.include_router(health_router({"services": services_ready}))
        platform.state.routes = self.routes  # what the routes depend on (gateway/deps.py)
        platform.state.invoker = blocks.invoker
        platform.state.aggregator = aggregator
        platform.include_router(router)
        platform.include_router(internal_router)
        self.platform_app = platform
        token = platform.state.platform_token

        def shop_verifier(identity_app_id: str, shop: str) -> TokenVerifier:
            """A dedicated shop's identity, offered the shop's own platform credential."""
            credential = (
                derived_credential(token, shop, SHOP_PLATFORM_CREDENTIAL) if token else None
            )
            return identity_jwks_verifier(
                blocks,
                settings.platform,
                identity_app_id=identity_app_id,
                platform_credential=credential,
            )

        self.proxy = ShopProxy(
            settings,
            self.routes,
            blocks.invoker,
            self.verifier,
            services,
            platform,
            # A verifier given (tests, the embedded platform) stands for every identity.
            shop_verifier=shop_verifier if verifier is None else None,
        )
        app: ASGIApp = CORSMiddleware(
            self.proxy,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID", "X-Cart-Id"],
            max_age=600,
        )
        self.app = RequestContext(app, service="gateway", access_log=settings.platform.access_log)

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def create_app(
    settings: GatewaySettings,
    blocks: Blocks,
    *,
    services: frozenset[str],
    verifier: TokenVerifier | None = None,
) -> Gateway:
    return Gateway(settings, blocks, services=services, verifier=verifier)
