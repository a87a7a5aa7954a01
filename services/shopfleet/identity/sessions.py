"""Sessions' use cases: login, refresh-token rotation with reuse detection, logout, the
platform's admin token, and lifting an account's login delays.

The rules (which token may be spent, what a reuse means) are `domain/sessions.py`'s.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.domain.refusals import ShopNotFound, WrongCredentials
from shopfleet.identity.domain.sessions import (
    RefreshVerdict,
    ends_on_logout,
    hash_refresh_token,
    judge_refresh,
    refresh_refusal,
)
from shopfleet.identity.models import AdminToken, TokenPair, User
from shopfleet.identity.service import Identity, user_in_shop
from shopfleet.identity.store import IdentityStore
from shopfleet.identity.tenants import get_tenant
from shopfleet.identity.tokens import add_refresh_token
from shopfleet.kit.refusals import NotFoundRefusal

log = structlog.get_logger("shopfleet.identity.sessions")


def _issue(store: IdentityStore, ident: Identity, user: User, family_id: str) -> TokenPair:
    ttl = ident.settings.refresh_token_ttl_s
    refresh_token = add_refresh_token(
        store, shop=user.shop, user_id=user.id, family_id=family_id, now=ident.now(), ttl_s=ttl
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
    store = IdentityStore(session)
    # Admitted first (a burst beyond what the hasher can do in time gets a 503 instead of a
    # gateway timeout), then reserved before the check, so parallel guesses cannot check
    # more than the limit.
    async with (
        ident.hasher.admitted(),
        await ident.throttle.reserve(shop, email, address) as attempt,
    ):
        if await store.shop(shop) is None:
            raise ShopNotFound.of(shop)
        row = await store.login_row(shop, email)
        await session.rollback()  # no transaction while argon2 works
        if row is None:
            await ident.hasher.verify_dummy(password)  # as slow as a wrong password
        if row is None or not await ident.hasher.verify(row.password_hash, password):
            await attempt.fail()
            raise WrongCredentials()
        await attempt.succeed()
    new_hash = (
        await ident.hasher.hash(password) if ident.hasher.needs_rehash(row.password_hash) else None
    )
    user = await store.user(row.user_id)
    if user is None:  # deleted meanwhile
        raise WrongCredentials()
    if new_hash is not None:  # the hashing parameters were raised since this hash was made
        user.password_hash = new_hash
    pair = _issue(store, ident, user, family_id=str(uuid.uuid4()))
    await session.commit()
    return pair


async def admin_token(session: AsyncSession, ident: Identity, shop: str) -> AdminToken:
    """An access token of the shop's first Admin, for the platform (its demo seeding): no
    password, no session, so no account state (a lockout, a changed password) stands in
    the way of the platform's start. Only the platform credential reaches this."""
    tenant = await get_tenant(session, shop)
    if tenant is None or not tenant.admin_user_id:
        raise NotFoundRefusal(f"Shop '{shop}' does not exist or has no Admin.")
    user = await IdentityStore(session).user(tenant.admin_user_id)
    if user is None:
        raise NotFoundRefusal(f"Shop '{shop}' has no Admin.")
    log.info("admin token issued to the platform", shop=shop, user_id=user.id)
    access = ident.keys.issue_access_token(
        user_id=user.id, shop=user.shop, roles=user.roles, session_version=user.session_version
    )
    return AdminToken(
        access_token=access, expires_in=ident.keys.access_token_ttl_s, user_id=user.id
    )


async def unlock_user(session: AsyncSession, ident: Identity, shop: str, user_id: str) -> None:
    """Lift the login delays of a user's account (its failures are forgotten)."""
    user = await user_in_shop(IdentityStore(session), shop, user_id)
    email = user.email
    await session.rollback()
    await ident.throttle.unlock_account(shop, email)
    log.info("account unlocked", shop=shop, user_id=user_id)


async def refresh(session: AsyncSession, ident: Identity, shop: str, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; presenting a spent one revokes its family."""
    now = ident.now()
    store = IdentityStore(session)
    stored = await store.refresh_token(hash_refresh_token(token))
    verdict = judge_refresh(stored, shop, now)
    if verdict is RefreshVerdict.SPEND:
        assert stored is not None
        if not await store.spend_refresh_token(stored.id, now):
            # A concurrent request spent it first: a second use all the same, the same answer.
            verdict = RefreshVerdict.REUSED
    if verdict is RefreshVerdict.REUSED:
        assert stored is not None
        await _end_family(store, ident, stored.family_id, stored.user_id)
    if verdict is not RefreshVerdict.SPEND:
        raise refresh_refusal(verdict)
    assert stored is not None
    user = await store.user(stored.user_id)
    if user is None:
        raise refresh_refusal(RefreshVerdict.ACCOUNT_GONE)
    pair = _issue(store, ident, user, family_id=stored.family_id)
    await session.commit()
    return pair


async def logout(session: AsyncSession, ident: Identity, shop: str, token: str) -> None:
    """End the session the refresh token belongs to; unknown or ended ones are fine too."""
    store = IdentityStore(session)
    stored = await store.refresh_token(hash_refresh_token(token))
    if stored is not None and ends_on_logout(stored, shop):
        await _end_family(store, ident, stored.family_id, stored.user_id)


async def _end_family(store: IdentityStore, ident: Identity, family_id: str, user_id: str) -> None:
    """Revoke the family, and end the user's access tokens at once (they name no family,
    so all of them: other sessions get new ones with their refresh tokens)."""
    now = ident.now()
    await store.revoke_refresh_tokens(now, family_id=family_id)
    await store.end_access_tokens(user_id, now)
    await store.session.commit()
    await ident.sessions_changed()
