"""The identity app: users, roles, sessions and signing keys of every shop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from shopfleet.identity.api import internal_router, peer_router, platform_router, router
from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.service import Identity
from shopfleet.identity.session_feed import local_session_feed
from shopfleet.identity.settings import IdentitySettings
from shopfleet.identity.throttle import LoginThrottle
from shopfleet.identity.tokens import KeyRing
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OutboxRelay
from shopfleet.kit.reads import FastReader
from shopfleet.kit.service import service_app
from shopfleet.kit.sessions import SessionView
from shopfleet.kit.tenant_data import purge_router

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(settings: IdentitySettings) -> Database:
    """Identity's database (the CLI runs `migrate()` on it before calling `service`)."""
    return Database.for_service("identity", settings, MIGRATIONS)


def create_app(
    settings: IdentitySettings,
    blocks: Blocks,
    *,
    verifier: TokenVerifier | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app; `clock` (unix seconds) lets tests move time for tokens and throttling."""
    platform = settings.platform
    db = open_database(settings)
    keys = KeyRing(
        db,
        issuer=platform.jwt_issuer,
        audience=platform.jwt_audience,
        access_token_ttl_s=settings.access_token_ttl_s,
        rotation_days=settings.signing_key_rotation_days,
        reload_s=settings.signing_key_reload_s,
        secrets=blocks.secrets,
        clock=clock,
    )
    hasher = PasswordHasher.from_settings(settings)
    throttle = LoginThrottle.from_settings(blocks.state, settings, clock=clock)
    # Identity checks its own tokens against its own keys and sessions, without calling itself.
    feed = local_session_feed(db, access_token_ttl_s=settings.access_token_ttl_s, clock=clock)
    verifier = verifier or TokenVerifier(
        keys.jwks,
        issuer=platform.jwt_issuer,
        audience=platform.jwt_audience,
        refetch_interval_s=1.0,
        sessions=SessionView(feed, poll_s=platform.session_poll_s, clock=clock),
    )
    # Commits that add outbox rows wake the relay by themselves (kit.outbox).
    reads = FastReader(db, pool_size=settings.db_pool_size, name="identity-reads")
    relay = OutboxRelay(db, blocks.pubsub, source="identity")
    app = service_app(
        "identity",
        description="Accounts, roles, sessions (refresh-token families) and signing keys.",
        db=db,
        blocks=blocks,
        platform=platform,
        routers=[
            router,
            platform_router,
            internal_router,
            peer_router,
            purge_router("identity"),
        ],
        verifier=verifier,
        on_start=[keys.start, reads.start, relay.start],  # after the scaffold's migrations
        on_stop=[keys.stop, reads.stop, relay.stop],
    )
    app.state.identity = Identity(settings, keys, hasher, throttle, clock, verifier.sessions)
    app.state.reads = reads
    return app
