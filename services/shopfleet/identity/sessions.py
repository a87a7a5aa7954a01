"""Sessions: login, refresh-token rotation with reuse detection, logout.

A session is a family of refresh tokens: each refresh spends one token and issues the
next; a spent token presented again means it was copied, so the whole family ends.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.identity.models import AdminToken, Shop, TokenPair, User
from shopfleet.identity.service import Identity, get_tenant
from shopfleet.identity.tokens import (
    add_refresh_token,
    end_access_tokens,
    find_refresh_token,
    revoke_refresh_tokens,
    spend_refresh_token,
)
from shopfleet.kit.auth import Unauthenticated
from shopfleet.kit.errors import NotFound

log = structlog.get_logger("shopfleet.identity.sessions")


async def _issue(session: AsyncSession, ident: Identity, user: User, family_id: str) -> TokenPair:
    ttl = ident.settings.refresh_token_ttl_s
    refresh_token = add_refresh_token(
        session, shop=user.shop, user_id=user.id, family_id=family_id, now=ident.now(), ttl_s=ttl
    )
    access = ident.keys.issue_access_token(
        user_id=user.id, shop=user.shop, roles=user.roles, session_version=user.session_version
    )
    return TokenPair(
        access_token=access,
        expires_in=ident.keys.access_token_ttl_s,
        refresh_token=refresh_token,
        refresh_expires_in=ttl,
    )


async def login(
    session: AsyncSession, ident: Identity, shop: str, email: str, password: str, *, address: str
) -> TokenPair:
    """Check the credentials (throttled per account and per address) and start a session."""
    # Admitted first (a burst beyond what the hasher can do in time gets a 503 instead of a
    # gateway timeout), then reserved before the check, so parallel guesses cannot check
    # more than the limit.
    async with (
        ident.hasher.admitted(),
        await ident.throttle.reserve(shop, email, address) as attempt,
    ):
        if await session.get(Shop, shop) is None:
            raise NotFound(f"Shop '{shop}' does not exist.")
        row = (
            await session.execute(
                sa.select(col(User.id), col(User.password_hash)).where(
                    col(User.shop) == shop, col(User.email) == email
                )
            )
        ).one_or_none()
        await session.rollback()  # no transaction while argon2 works
        if row is None:
            await ident.hasher.verify_dummy(password)  # as slow as a wrong password
        if row is None or not await ident.hasher.verify(row.password_hash, password):
            await attempt.fail()
            raise Unauthenticated("Wrong email or password.")
        await attempt.succeed()
    new_hash = (
        await ident.hasher.hash(password) if ident.hasher.needs_rehash(row.password_hash) else None
    )
    user = await session.get(User, row.id)
    if user is None:  # deleted meanwhile
        raise Unauthenticated("Wrong email or password.")
    if new_hash is not None:  # the hashing parameters were raised since this hash was made
        user.password_hash = new_hash
    pair = await _issue(session, ident, user, family_id=str(uuid.uuid4()))
    await session.commit()
    return pair


async def admin_token(session: AsyncSession, ident: Identity, shop: str) -> AdminToken:
    """An access token of the shop's first Admin, for the platform (its demo seeding): no
    password, no session, so no account state (a lockout, a changed password) stands in
    the way of the platform's start. Only the platform credential reaches this."""
    tenant = await get_tenant(session, shop)
    if tenant is None or not tenant.admin_user_id:
        raise NotFound(f"Shop '{shop}' does not exist or has no Admin.")
    user = await session.get(User, tenant.admin_user_id)
    if user is None:
        raise NotFound(f"Shop '{shop}' has no Admin.")
    log.info("admin token issued to the platform", shop=shop, user_id=user.id)
    access = ident.keys.issue_access_token(
        user_id=user.id, shop=user.shop, roles=user.roles, session_version=user.session_version
    )
    return AdminToken(
        access_token=access, expires_in=ident.keys.access_token_ttl_s, user_id=user.id
    )


async def unlock_user(session: AsyncSession, ident: Identity, shop: str, user_id: str) -> None:
    """Lift the login delays of a user's account (its failures are forgotten)."""
    user = await session.get(User, user_id)
    if user is None or user.shop != shop:  # another shop's user is simply not here
        raise NotFound(f"No user '{user_id}' in shop '{shop}'.")
    email = user.email
    await session.rollback()
    await ident.throttle.unlock_account(shop, email)
    log.info("account unlocked", shop=shop, user_id=user_id)


_REUSED = (
    "This refresh token was already used or revoked. Every session it belongs to has been "
    "ended, in case it was stolen; log in again."
)


async def refresh(session: AsyncSession, ident: Identity, shop: str, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; presenting a spent one revokes its family."""
    now = ident.now()
    stored = await find_refresh_token(session, token)
    if stored is None or stored.shop != shop:
        raise Unauthenticated("The refresh token is not valid; log in again.")
    if stored.used_at is not None or stored.revoked_at is not None:
        await _end_family(session, ident, stored.family_id, stored.user_id)
        raise Unauthenticated(_REUSED)
    if stored.expires_at <= now:
        raise Unauthenticated("The refresh token has expired; log in again.")
    if not await spend_refresh_token(session, stored.id, now):
        # A concurrent request spent it first: a second use all the same, so the same answer.
        await _end_family(session, ident, stored.family_id, stored.user_id)
        raise Unauthenticated(_REUSED)
    user = await session.get(User, stored.user_id)
    if user is None:
        raise Unauthenticated("The account no longer exists.")
    pair = await _issue(session, ident, user, family_id=stored.family_id)
    await session.commit()
    return pair


async def logout(session: AsyncSession, ident: Identity, shop: str, token: str) -> None:
    """End the session the refresh token belongs to; unknown or ended ones are fine too."""
    stored = await find_refresh_token(session, token)
    if stored is not None and stored.shop == shop:
        await _end_family(session, ident, stored.family_id, stored.user_id)


async def _end_family(session: AsyncSession, ident: Identity, family_id: str, user_id: str) -> None:
    """Revoke the family, and end the user's access tokens at once (they name no family,
    so all of them: other sessions get new ones with their refresh tokens)."""
    now = ident.now()
    await revoke_refresh_tokens(session, now, family_id=family_id)
    await end_access_tokens(session, user_id, now)
    await session.commit()
    await ident.sessions_changed()
