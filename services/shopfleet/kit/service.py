"""The scaffold every service app is built on: errors, telemetry, health, lifespan.

A service's `create_app` builds its own routers and domain objects and hands them here;
this module holds what would otherwise be copied into every service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.errors import install_problem_handlers
from shopfleet.kit.jsonlimits import JsonBounds, JsonLimits
from shopfleet.kit.settings import PlatformSettings
from shopfleet.kit.telemetry import ReadyCheck, RequestContext, health_router

Hook = Callable[[], Awaitable[None]]


def identity_jwks_verifier(blocks: Blocks, platform: PlatformSettings) -> TokenVerifier:
    """A verifier that fetches identity's JWKS through service invocation."""

    async def fetch() -> dict:
        response = await blocks.invoker.invoke(
            "identity", "GET", "/.well-known/jwks.json", timeout_s=5
        )
        if response.status != 200:
            raise RuntimeError(f"identity answered {response.status} for its JWKS")
        return response.json()

    return TokenVerifier(fetch, issuer=platform.jwt_issuer, audience=platform.jwt_audience)


def service_app(
    name: str,
    *,
    description: str,
    db: Database | None,
    blocks: Blocks,
    platform: PlatformSettings,
    routers: Sequence[APIRouter],
    verifier: TokenVerifier | None = None,
    on_start: Sequence[Hook] = (),
    on_stop: Sequence[Hook] = (),
    migrate: bool = True,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
) -> FastAPI:
    """A FastAPI app for one service, ready to serve alone or inside the embedded platform.

    `db` is None for a service that keeps no relational data (e.g. cart, on the state store).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate and platform.migrate_on_start and db is not None:
            await db.migrate()
        for hook in on_start:
            await hook()
        try:
            yield
        finally:
            for hook in reversed(on_stop):
                await hook()
            if db is not None:
                await db.dispose()

    app = FastAPI(
        title=f"shopfleet {name}",
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = name
    app.state.db = db
    app.state.blocks = blocks
    app.state.verifier = verifier or identity_jwks_verifier(blocks, platform)
    app.state.platform_token = (
        platform.platform_token.get_secret_value() if platform.platform_token else None
    )
    install_problem_handlers(app)
    checks = dict(ready_checks or {})
    if db is not None:
        checks["database"] = db.ping
    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    # A pub/sub whose broker calls the app (Dapr: GET /dapr/subscribe, POST /dapr/events/...)
    # brings its own routes; the local pub/sub calls handlers in-process and has none.
    pubsub_routes = getattr(blocks.pubsub, "router", None)
    if callable(pubsub_routes):
        app.include_router(pubsub_routes())
    app.add_middleware(JsonLimits, bounds=JsonBounds.of(platform))  # before validation
    app.add_middleware(RequestContext, service=name, access_log=platform.access_log)
    return app
