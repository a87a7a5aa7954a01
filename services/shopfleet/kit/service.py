"""The scaffold every service app is built on: errors, telemetry, health, lifespan.

A service's `create_app` builds its own routers and domain objects and hands them here;
this module holds what would otherwise be copied into every service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from shopfleet.kit.auth import SERVICE_TOKEN_HEADER, TokenVerifier, publish_access
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.callers import CallerGuard
from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.contracts.sessions import SessionChanges
from shopfleet.kit.db import Database
from shopfleet.kit.errors import install_problem_handlers
from shopfleet.kit.jsonlimits import JsonBounds, JsonLimits
from shopfleet.kit.sessions import SessionView
from shopfleet.kit.settings import PlatformSettings, secret
from shopfleet.kit.telemetry import ReadyCheck, RequestContext, health_router

Hook = Callable[[], Awaitable[None]]


def identity_jwks_verifier(
    blocks: Blocks,
    platform: PlatformSettings,
    *,
    in_process_identity: bool = False,
    identity_app_id: str = "identity",
    platform_credential: str | None = None,
) -> TokenVerifier:
    """A verifier that fetches identity's JWKS and session changes through invocation.

    `in_process_identity`: the embedded platform, where identity shares this verifier
    and updates its session view itself (kit/sessions.py).
    `identity_app_id`, `platform_credential`: another identity than the caller's own
    namespace's, e.g. the gateway verifying a dedicated shop's tokens with that shop's
    identity (`identity.shop-<name>`), which takes the shop's own platform credential
    (kit/contracts/credentials.py), never the platform's.
    """

    identity = IdentityClient(blocks.invoker, app_id=identity_app_id, timeout_s=5)
    # The feed names users and roles: it takes the platform or the service credential.
    platform_token: str | None
    if platform_credential is not None:
        platform_token, service_token = platform_credential, None
    else:
        platform_token = secret(platform.platform_token)
        service_token = secret(platform.service_token)
    credential = [(b"authorization", f"Bearer {platform_token}".encode())] if platform_token else []
    if service_token:
        credential.append((SERVICE_TOKEN_HEADER.encode(), service_token.encode()))

    async def fetch_sessions(since: float) -> SessionChanges:
        return await identity.session_changes(since, headers=credential)

    return TokenVerifier(
        identity.key_set,
        issuer=platform.jwt_issuer,
        audience=platform.jwt_audience,
        sessions=SessionView(
            fetch_sessions, poll_s=platform.session_poll_s, authoritative=in_process_identity
        ),
    )


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
    app.state.platform_token = secret(platform.platform_token)
    app.state.service_token = secret(platform.service_token)
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
    # Around the JSON bounds: a refused caller reaches no route and no body parsing. The
    # app token only matters where a sidecar calls (Dapr mode).
    app.add_middleware(
        CallerGuard,
        app_token=secret(platform.app_api_token) if platform.blocks == "dapr" else None,
        service_token=secret(platform.service_token),
        fail_closed=platform.blocks == "dapr",
    )
    app.add_middleware(RequestContext, service=name, access_log=platform.access_log)
    publish_access(app)  # x-shopfleet-access on every operation, kept by the gateway's docs
    return app
