"""Sessions: login, refresh-token rotation with reuse detection, logout.

A session is a family of refresh tokens: each refresh spends one token and issues the
next; a spent token presented again means it was copied, so the whole family ends.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.models import Shop, TokenPair, User
from shopfleet.identity.service import Identity
from shopfleet.identity.tokens import (
    add_refresh_token,
    end_access_tokens,
    find_refresh_token,
    revoke_refresh_tokens,
    spend_refresh_token,
)
from shopfleet.kit.auth import Unauthenticated
from shopfleet.kit.errors import NotFound


async def _issue(session: AsyncSession, ident: Identity, user: User, family_id: str) -> TokenPair:
    ttl = ident.settings.refresh_token_ttl_s
    refresh_token = add_refresh_token(
        session, shop=user.shop, user_id=user.id, family_id=family_id, now=ident.now(), ttl_s=ttl
    )
    access = ident.keys.issue_access_token(
        user_id=user.id, shop=user.shop, roles=user.roles, session_version=user.session_version
    )
    return TokenPair(
        access_token=access, expires_in=ident.keys.access_token_ttl_s,
        refresh_token=refresh_token, refresh_expires_in=ttl,
    )  # fmt: skip


async def login(
    session: AsyncSession, ident: Identity, shop: str, email: str, password: str, *, address: str
) -> TokenPair:
    """Check the credentials (throttled per account and per address) and start a session."""
    await ident.throttle.ensure_allowed(shop, email, address)
    if await session.get(Shop, shop) is None:
        raise NotFound(f"Shop '{shop}' does not exist.")
    row = (
        await session.execute(
            sa.select(User.id, User.password_hash).where(User.shop == shop, User.email == email)
        )
    ).one_or_none()
    await session.rollback()  # no transaction while argon2 works
    if row is None:
        await ident.hasher.verify_dummy(password)  # as slow as a wrong password
    if row is None or not await ident.hasher.verify(row.password_hash, password):
        await ident.throttle.record_failure(shop, email, address)
        raise Unauthenticated("Wrong email or password.")
    await ident.throttle.reset_account(shop, email)
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
