"""Identity's use cases for users and roles, and what every use case shares (`Identity`).

Plain async functions taking a session, called by the routes and directly by the CLI: load
with `store.py`, decide with `domain/`, write and commit, one unit of work each. Password
hashing (slow by design) runs outside any transaction, so SQLite's write lock is never held
while argon2 works. Tenants' use cases are in `tenants.py`, sessions' in `sessions.py`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.domain.accounts import (
    check_admins_left,
    check_password_change,
    loses_admin,
    new_user_roles,
    normalize_email,
    page_of,
    roles_after_set,
)
from shopfleet.identity.domain.refusals import (
    EmailTaken,
    ShopNotFound,
    UserNotFound,
    WrongCurrentPassword,
)
from shopfleet.identity.models import (
    User,
    UserCreate,
    UserPublic,
    UsersPage,
    UserUpdate,
)
from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.settings import IdentitySettings
from shopfleet.identity.store import IdentityStore, UsersQuery, public_user_query, stored_user
from shopfleet.identity.throttle import LoginThrottle
from shopfleet.identity.tokens import KeyRing
from shopfleet.kit.auth import Role
from shopfleet.kit.contracts.events import USER_REGISTERED, UserRegistered
from shopfleet.kit.contracts.ids import USER_ID_PATTERN
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.errors import Problem
from shopfleet.kit.outbox import Outbox
from shopfleet.kit.reads import FastReader
from shopfleet.kit.sessions import SessionView


@dataclass(frozen=True, slots=True)
class Identity:
    """What the use cases need besides a database session."""

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


async def emit_registered(session: AsyncSession, user: User) -> None:
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
    granted = new_user_roles(roles)
    password_hash = await hasher.hash(data.password)
    store = IdentityStore(session)
    if await store.shop(shop) is None:
        raise ShopNotFound.of(shop)
    if await store.email_used(shop, data.email):
        raise EmailTaken.of(data.email)
    now = datetime.now(UTC)
    user = User(
        shop=shop,
        email=normalize_email(data.email),
        password_hash=password_hash,
        display_name=data.display_name,
        roles=granted,
        created_at=now,
        updated_at=now,
    )
    store.add_user(user)
    await emit_registered(session, user)
    try:
        await session.commit()
    except IntegrityError:  # registered concurrently
        await session.rollback()
        raise EmailTaken.of(data.email) from None
    return UserPublic.model_validate(user, from_attributes=True)


async def register_user(
    session: AsyncSession, shop: str, data: UserCreate, hasher: PasswordHasher
) -> UserPublic:
    return await add_user(
        session, shop, data.email, data.password, data.display_name, [Role.USER], hasher
    )


async def user_in_shop(store: IdentityStore, shop: str, user_id: str) -> User:
    user = await store.user_in_shop(shop, user_id)
    if user is None:  # another shop's user is simply not here
        raise UserNotFound.of(shop, user_id)
    return user


async def get_user(reads: FastReader, shop: str, user_id: str) -> UserPublic:
    # The hot read of every signed-in page: public columns only, on the fast read path.
    rows = await reads.rows("public-user", public_user_query, {"shop": shop, "user_id": user_id})
    if not rows:
        raise UserNotFound.of(shop, user_id)
    return stored_user(rows[0])


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
    store = IdentityStore(session)
    user = await user_in_shop(store, shop, user_id)
    new_hash: str | None = None
    if check_password_change(changes.password, changes.current_password):
        assert changes.password is not None and changes.current_password is not None
        stored, email = user.password_hash, user.email
        await session.rollback()  # no transaction while argon2 works
        async with await ident.throttle.reserve(shop, email, address) as attempt:
            if not await ident.hasher.verify(stored, changes.current_password):
                await attempt.fail()
                raise WrongCurrentPassword()
            await attempt.succeed()
        new_hash = await ident.hasher.hash(changes.password)
        user = await user_in_shop(store, shop, user_id)
    now = ident.now()
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if new_hash is not None:
        user.password_hash = new_hash
        await store.revoke_refresh_tokens(now, user_id=user.id)
        await store.end_access_tokens(user.id, now)
    user.updated_at = now
    await session.commit()
    if new_hash is not None:
        await ident.sessions_changed()
    return UserPublic.model_validate(user, from_attributes=True)


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
    after = PageEnd.from_cursor(cursor, USER_ID_PATTERN) if cursor else None
    prefix = normalize_email(email_prefix) if email_prefix else None
    rows = await IdentityStore(session).users(
        UsersQuery(shop, limit, after=after, role=role, email_prefix=prefix)
    )
    items, more = page_of(rows, limit)
    next_cursor = PageEnd(items[-1].created_at, items[-1].id).cursor() if more else None
    return UsersPage(items=items, next_cursor=next_cursor)


async def set_roles(session: AsyncSession, shop: str, user_id: str, roles: list[str]) -> UserPublic:
    """Replace a user's shop roles; the shop's last Admin cannot lose the role."""
    store = IdentityStore(session)
    await store.lock_shop(shop)
    user = await user_in_shop(store, shop, user_id)
    new_roles = roles_after_set(user.roles, roles)
    others = await store.other_admins(shop, user.id) if loses_admin(user.roles, new_roles) else 0
    check_admins_left(user.roles, new_roles, others)
    user.roles = new_roles
    user.updated_at = user.sessions_changed_at = datetime.now(UTC)  # served to every verifier
    await session.commit()
    return UserPublic.model_validate(user, from_attributes=True)
