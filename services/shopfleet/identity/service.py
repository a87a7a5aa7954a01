"""Identity's domain logic: tenants, users, roles and sessions (refresh-token families).

Plain async functions taking a session, called by the routes and directly by the CLI.
Each function is one unit of work and commits it. Password hashing (slow by design) runs
outside any transaction, so SQLite's write lock is never held while argon2 works.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.identity.models import (
    USER_PUBLIC_COLUMNS,
    Shop,
    User,
    UserCreate,
    UserPublic,
    UsersPage,
    UserUpdate,
    decode_cursor,
    encode_cursor,
)
from shopfleet.identity.ownership import may_take, owner_of, take, tenant_owned
from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.settings import IdentitySettings
from shopfleet.identity.throttle import LoginThrottle
from shopfleet.identity.tokens import (
    KeyRing,
    end_access_tokens,
    ensure_signing_key,
    revoke_refresh_tokens,
    rotate_signing_key,
)
from shopfleet.kit.auth import Role
from shopfleet.kit.contracts.events import (
    SHOP_CREATED,
    USER_REGISTERED,
    ShopCreated,
    UserRegistered,
)
from shopfleet.kit.contracts.tenants import TenantBootstrap, TenantPublic, TenantQuotas
from shopfleet.kit.db import NamedRow
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.kit.outbox import Outbox
from shopfleet.kit.reads import FastReader
from shopfleet.kit.sessions import SessionView

# The CLI's entry points (signing-key rotation included, though it lives in tokens.py).
__all__ = [
    "Identity",
    "add_user",
    "bootstrap_tenant",
    "ensure_signing_key",
    "get_tenant",
    "get_user",
    "list_users",
    "register_user",
    "rotate_signing_key",
    "set_roles",
    "update_user",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """What the session functions need besides a database session."""

    settings: IdentitySettings
    keys: KeyRing
    hasher: PasswordHasher
    throttle: LoginThrottle
    clock: Callable[[], float] = field(default=time.time)
    sessions: SessionView | None = None  # this process's verifier's view of sessions

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def sessions_changed(self) -> None:
        """After a committed change of roles or sessions: this process's view takes it in
        before the answer leaves, so the caller's next request meets it (kit/sessions.py)."""
        if self.sessions is not None:
            with contextlib.suppress(Problem):  # logged; the next poll brings it
                await self.sessions.refresh()


# ----------------------------------------------------------------------------- tenants


async def get_tenant(session: AsyncSession, shop: str) -> TenantPublic | None:
    row = await session.get(Shop, shop)
    if row is None:
        return None
    admin_id = await session.scalar(
        sa.select(col(User.id))
        .where(col(User.shop) == shop, _has_role(Role.ADMIN))
        .order_by(col(User.created_at), col(User.id))
        .limit(1)
    )
    return TenantPublic(
        shop=row.slug,
        display_name=row.display_name,
        currency=row.currency,
        quotas=quotas_of(row),
        admin_user_id=admin_id or "",
        owner=owner_of(row),
        created=False,
    )


def quotas_of(row: Shop) -> TenantQuotas:
    return TenantQuotas(products=row.quota_products, orders_per_day=row.quota_orders_per_day)


async def _bootstrap_existing(
    session: AsyncSession, request: TenantBootstrap, existing: TenantPublic
) -> TenantPublic:
    """The shop exists: refused if another namespace owns it (409 tenant-owned), else
    adopted by the request's owner if it has none or another uid, with the spec's quotas."""
    if not may_take(existing.owner, request.owner):
        assert existing.owner is not None
        raise tenant_owned(request.shop, existing.owner)
    claimant = request.owner
    if claimant is not None and claimant != existing.owner:
        if not await take(session, request.shop, claimant):
            await session.rollback()  # another namespace adopted it meanwhile
            taken = await get_tenant(session, request.shop)
            await session.rollback()
            raise tenant_owned(request.shop, (taken and taken.owner) or claimant)
        existing.owner, existing.adopted = claimant, True
    if existing.quotas != request.quotas:
        # Set the shop's quotas to the spec's: a bootstrap of an existing shop carries them.
        await session.execute(
            sa.update(Shop)
            .where(col(Shop.slug) == request.shop)
            .values(
                quota_products=request.quotas.products,
                quota_orders_per_day=request.quotas.orders_per_day,
            )
        )
        existing.quotas = request.quotas
    await session.commit()
    return existing


async def bootstrap_tenant(
    session: AsyncSession, request: TenantBootstrap, hasher: PasswordHasher
) -> TenantPublic:
    """Create the shop and its Admin; the same shop again returns it with `created=False`
    (or 409 tenant-owned when another namespace's Shop owns it: identity/ownership.py)."""
    existing = await get_tenant(session, request.shop)
    await session.rollback()  # end the read before hashing
    if existing is not None:
        return await _bootstrap_existing(session, request, existing)
    password_hash = await hasher.hash(request.admin_password)
    now = datetime.now(UTC)
    shop = Shop(
        slug=request.shop,
        display_name=request.display_name,
        currency=request.currency,
        created_at=now,
        quota_products=request.quotas.products,
        quota_orders_per_day=request.quotas.orders_per_day,
        owner_namespace=request.owner.namespace if request.owner else None,
        owner_uid=request.owner.uid if request.owner else None,
    )
    try:
        session.add(shop)
        await session.flush()  # the shop before its user (foreign key)
        admin = _new_user(
            request.shop, str(request.admin_email), password_hash, "Admin", [Role.ADMIN], now
        )
        session.add(admin)
        await Outbox.add(
            session,
            SHOP_CREATED,
            ShopCreated(
                shop=shop.slug,
                display_name=shop.display_name,
                currency=shop.currency,
                created_at=now,
            ),
            shop=shop.slug,
        )
        await _emit_registered(session, admin)
        await session.commit()
    except IntegrityError:  # a concurrent bootstrap of the same shop won (at flush or commit)
        await session.rollback()
        existing = await get_tenant(session, request.shop)
        await session.rollback()
        if existing is None:
            raise
        return await _bootstrap_existing(session, request, existing)
    return TenantPublic(
        shop=shop.slug,
        display_name=shop.display_name,
        currency=shop.currency,
        quotas=request.quotas,
        admin_user_id=admin.id,
        owner=request.owner,
        created=True,
    )


# ----------------------------------------------------------------------------- users


def _has_role(role: str) -> sa.ColumnElement[bool]:
    # Roles are a JSON list of a few known names: a text match on '"Admin"' is exact.
    return sa.cast(col(User.roles), sa.String).contains(f'"{role}"')


def _new_user(
    shop: str, email: str, password_hash: str, display_name: str, roles: list[str], now: datetime
) -> User:
    return User(
        shop=shop,
        email=email.strip().lower(),
        password_hash=password_hash,
        display_name=display_name,
        roles=sorted(set(roles)),
        created_at=now,
        updated_at=now,
    )


async def _emit_registered(session: AsyncSession, user: User) -> None:
    await Outbox.add(
        session,
        USER_REGISTERED,
        UserRegistered(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            roles=user.roles,
            registered_at=user.created_at,
        ),
        shop=user.shop,
    )


async def add_user(
    session: AsyncSession,
    shop: str,
    email: str,
    password: str,
    display_name: str,
    roles: list[str],
    hasher: PasswordHasher,
) -> UserPublic:
    """Create a user with any roles (the CLI may grant PlatformAdmin); emits user.registered."""
    data = UserCreate(email=email, password=password, display_name=display_name)
    unknown = set(roles) - set(Role)
    if not roles or unknown:
        raise ValueError(f"roles must be a non-empty subset of {[r.value for r in Role]}")
    password_hash = await hasher.hash(data.password)
    if await session.get(Shop, shop) is None:
        raise NotFound(f"Shop '{shop}' does not exist.")
    if await session.scalar(
        sa.select(col(User.id)).where(col(User.shop) == shop, col(User.email) == data.email)
    ):
        raise _email_taken(data.email)
    user = _new_user(shop, data.email, password_hash, data.display_name, roles, datetime.now(UTC))
    session.add(user)
    await _emit_registered(session, user)
    try:
        await session.commit()
    except IntegrityError:  # registered concurrently
        await session.rollback()
        raise _email_taken(data.email) from None
    return UserPublic.model_validate(user, from_attributes=True)


def _email_taken(email: str) -> Conflict:
    return Conflict(
        f"An account with {email} already exists in this shop; log in instead.", slug="email-taken"
    )


async def register_user(
    session: AsyncSession, shop: str, data: UserCreate, hasher: PasswordHasher
) -> UserPublic:
    return await add_user(
        session, shop, data.email, data.password, data.display_name, [Role.USER], hasher
    )


async def _user_in_shop(session: AsyncSession, shop: str, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None or user.shop != shop:  # another shop's user is simply not here
        raise NotFound(f"No user '{user_id}' in shop '{shop}'.")
    return user


def _public_user(_key: object) -> sa.Select[Any]:
    return sa.select(*USER_PUBLIC_COLUMNS).where(
        col(User.shop) == sa.bindparam("shop"), col(User.id) == sa.bindparam("user_id")
    )


def _stored_user(row: NamedRow) -> UserPublic:
    """The public view of a stored user's columns, not validated again: every column was
    validated when it was written (UserCreate, UserUpdate), and checking the email's syntax
    once more cost ≈ 110 µs a read, a sixth of a `GET /users/me`."""
    return UserPublic.model_construct(**dict(row))


async def get_user(reads: FastReader, shop: str, user_id: str) -> UserPublic:
    # The hot read of every signed-in page: public columns only, on the fast read path.
    rows = await reads.rows("public-user", _public_user, {"shop": shop, "user_id": user_id})
    if not rows:
        raise NotFound(f"No user '{user_id}' in shop '{shop}'.")
    return _stored_user(rows[0])


async def update_user(
    session: AsyncSession,
    ident: Identity,
    shop: str,
    user_id: str,
    changes: UserUpdate,
    *,
    address: str,
) -> UserPublic:
    """Change one's display name and/or password; a new password ends every session."""
    user = await _user_in_shop(session, shop, user_id)
    new_hash: str | None = None
    if changes.password is not None:
        if not changes.current_password:
            raise field_problem(422, "body.current_password", "required to change the password")
        stored, email = user.password_hash, user.email
        await session.rollback()  # no transaction while argon2 works
        async with await ident.throttle.reserve(shop, email, address) as attempt:
            if not await ident.hasher.verify(stored, changes.current_password):
                await attempt.fail()
                raise field_problem(400, "body.current_password", "is not your current password")
            await attempt.succeed()
        new_hash = await ident.hasher.hash(changes.password)
        user = await _user_in_shop(session, shop, user_id)
    now = ident.now()
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if new_hash is not None:
        user.password_hash = new_hash
        await revoke_refresh_tokens(session, now, user_id=user.id)
        await end_access_tokens(session, user.id, now)
    user.updated_at = now
    await session.commit()
    if new_hash is not None:
        await ident.sessions_changed()
    return UserPublic.model_validate(user, from_attributes=True)


# ----------------------------------------------------------------------------- listing


async def list_users(
    session: AsyncSession,
    shop: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
    role: str | None = None,
    email_prefix: str | None = None,
) -> UsersPage:
    """A page of the shop's users, oldest first; selects columns, never password hashes."""
    query = sa.select(*USER_PUBLIC_COLUMNS).where(col(User.shop) == shop)
    if role:
        query = query.where(_has_role(role))
    if email_prefix:
        query = query.where(
            col(User.email).startswith(email_prefix.strip().lower(), autoescape=True)
        )
    if cursor:
        try:
            after, after_id = decode_cursor(cursor)
        except ValueError:
            raise field_problem(
                400,
                "query.cursor",
                "not a valid cursor: pass the next_cursor of the previous "
                "page unchanged, or omit it to start at the first page",
                slug="bad-cursor",
            ) from None
        query = query.where(
            sa.or_(
                col(User.created_at) > after,
                sa.and_(col(User.created_at) == after, col(User.id) > after_id),
            )
        )
    query = query.order_by(col(User.created_at), col(User.id)).limit(limit + 1)
    rows = (await session.execute(query)).mappings().all()
    items = [_stored_user(row) for row in rows[:limit]]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
    return UsersPage(items=items, next_cursor=next_cursor)


async def set_roles(session: AsyncSession, shop: str, user_id: str, roles: list[str]) -> UserPublic:
    """Replace a user's shop roles; the shop's last Admin cannot lose the role."""
    # Lock the shop row (PostgreSQL) so two demotions cannot each see the other as the
    # remaining Admin; SQLite's BEGIN IMMEDIATE already serializes writers.
    await session.execute(sa.select(col(Shop.slug)).where(col(Shop.slug) == shop).with_for_update())
    user = await _user_in_shop(session, shop, user_id)
    kept = {Role.PLATFORM_ADMIN.value} & set(user.roles)  # not a shop's to grant or take
    new_roles = sorted(set(roles) | kept)
    if Role.ADMIN in user.roles and Role.ADMIN not in new_roles:
        others = await session.scalar(
            sa.select(sa.func.count())
            .select_from(User)
            .where(col(User.shop) == shop, col(User.id) != user.id, _has_role(Role.ADMIN))
        )
        if not others:
            raise Conflict(
                "This is the shop's last Admin: make another user Admin first.", slug="last-admin"
            )
    user.roles = new_roles
    user.updated_at = user.sessions_changed_at = datetime.now(UTC)  # served to every verifier
    await session.commit()
    return UserPublic.model_validate(user, from_attributes=True)
