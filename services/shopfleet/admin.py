"""What the admin commands of the CLI do, on the data dir's databases (no server needed).

They call identity's domain functions directly; events they cause wait in identity's
outbox until the platform's relay (running now or at the next start) publishes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.gateway.routes import RouteFile
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.identity import service as identity
from shopfleet.identity import tenants, tokens
from shopfleet.identity.app import open_database
from shopfleet.identity.key_encryption import load_cipher
from shopfleet.identity.models import Shop, User, UserPublic
from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.settings import IdentitySettings
from shopfleet.identity.throttle import LoginThrottle
from shopfleet.kit.blocks.embedded import open_state_store
from shopfleet.kit.blocks.local import LocalSecrets
from shopfleet.kit.contracts.routes import Route
from shopfleet.kit.contracts.tenants import TenantBootstrap, TenantPublic
from shopfleet.kit.errors import NotFound
from shopfleet.kit.settings import PlatformSettings


@dataclass
class IdentityAccess:
    session: AsyncSession
    hasher: PasswordHasher


@asynccontextmanager
async def identity_access(platform: PlatformSettings) -> AsyncIterator[IdentityAccess]:
    settings = IdentitySettings(platform=platform)
    db = open_database(settings)
    try:
        await db.migrate()
        hasher = PasswordHasher.from_settings(settings)
        async with db.session() as session:
            yield IdentityAccess(session, hasher)
    finally:
        await db.dispose()


def route_file(platform: PlatformSettings) -> RouteFile:
    return RouteFile(GatewaySettings(platform=platform).resolved_routes_file())


async def create_shop(
    platform: PlatformSettings, request: TenantBootstrap, hosts: list[str]
) -> TenantPublic:
    routes = route_file(platform)
    routes.load()
    taken = {h: s for s, r in routes.table.doc.shops.items() if s != request.shop for h in r.hosts}
    clash = [h for h in hosts if h.lower() in taken]
    if clash:
        raise ValueError(f"host {clash[0]} already belongs to shop '{taken[clash[0].lower()]}'")
    async with identity_access(platform) as access:
        tenant = await tenants.bootstrap_tenant(access.session, request, access.hasher)
    existing = routes.table.shop(request.shop)
    routes.put(
        request.shop,
        (existing or Route()).model_copy(
            update={"hosts": hosts or (existing.hosts if existing else [])}
        ),
    )
    return tenant


async def list_shops(
    platform: PlatformSettings,
) -> list[tuple[TenantPublic | None, str, Route | None]]:
    routes = route_file(platform)
    routes.load()
    async with identity_access(platform) as access:
        slugs = sorted(
            set(routes.table.doc.shops)
            | set((await access.session.scalars(sa.select(col(Shop.slug)))).all())
        )
        return [
            (await tenants.get_tenant(access.session, s), s, routes.table.shop(s)) for s in slugs
        ]


async def add_user(
    platform: PlatformSettings,
    shop: str,
    email: str,
    password: str,
    display_name: str,
    roles: list[str],
) -> UserPublic:
    async with identity_access(platform) as access:
        return await identity.add_user(
            access.session, shop, email, password, display_name, roles, access.hasher
        )


async def rotate_key(platform: PlatformSettings) -> str:
    # Sealed with the key-encryption key of the data dir's secrets file, as identity does.
    cipher = await load_cipher(LocalSecrets(platform.data_dir / "secrets.json"))
    async with identity_access(platform) as access:
        await tokens.ensure_signing_key(access.session, cipher=cipher)
        return (await tokens.rotate_signing_key(access.session, cipher=cipher)).kid


async def unlock_login(
    platform: PlatformSettings, shop: str, email: str | None, address: str | None
) -> None:
    """Lift the login delays of a shop's account (by email) and/or of a client address."""
    email = email.strip().lower() if email else None
    async with identity_access(platform) as access:
        if await access.session.get(Shop, shop) is None:
            raise NotFound(f"Shop '{shop}' does not exist.")
        if email and not await access.session.scalar(
            sa.select(col(User.id)).where(col(User.shop) == shop, col(User.email) == email)
        ):
            raise NotFound(f"No user {email} in shop '{shop}'.")
    store = await open_state_store(platform)
    try:
        throttle = LoginThrottle.from_settings(store, IdentitySettings(platform=platform))
        if email:
            await throttle.unlock_account(shop, email)
        if address:
            await throttle.unlock_address(shop, address.strip())
    finally:
        await store.close()
