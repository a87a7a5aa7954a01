"""Identity's HTTP routes: thin wrappers that validate input and call `service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from shopfleet.identity import service, sessions, tenants
from shopfleet.identity.deps import ClientAddress, IdentityDep
from shopfleet.identity.domain.refusals import ShopNotFound
from shopfleet.identity.models import (
    AdminToken,
    LoginRequest,
    RefreshRequest,
    RolesUpdate,
    TokenPair,
    UserCreate,
    UserPublic,
    UsersPage,
    UserUpdate,
)
from shopfleet.identity.session_feed import session_changes
from shopfleet.kit.auth import (
    PUBLIC,
    SHOP_API_PREFIX,
    AdminUser,
    CurrentUser,
    PlatformCaller,
    PlatformOrServiceCaller,
    Role,
    ShopId,
)
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.sessions import SESSIONS_PATH, SessionChanges
from shopfleet.kit.contracts.tenants import (
    SETTINGS_PATH,
    ShopSettings,
    TenantBootstrap,
    TenantPublic,
)
from shopfleet.kit.db import ReaderDep, SessionDep

NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
UserId = Annotated[ids.UserId, Path(description="The user's id.")]

router = APIRouter(prefix=SHOP_API_PREFIX)

# ----------------------------------------------------------------------------- auth


@router.post(
    "/auth/register", status_code=status.HTTP_201_CREATED, tags=["auth"], openapi_extra=PUBLIC
)
async def register(
    shop: ShopId, body: UserCreate, session: SessionDep, ident: IdentityDep
) -> UserPublic:
    """Create an account (role User) in this shop."""
    return await service.register_user(session, shop, body, ident.hasher)


@router.post("/auth/login", tags=["auth"], openapi_extra=PUBLIC)
async def login(
    shop: ShopId,
    body: LoginRequest,
    session: SessionDep,
    ident: IdentityDep,
    address: ClientAddress,
) -> TokenPair:
    """Exchange email and password for an access token (15 min) and a refresh token."""
    return await sessions.login(session, ident, shop, body.email, body.password, address=address)


@router.post("/auth/refresh", tags=["auth"], openapi_extra=PUBLIC)
async def refresh(
    shop: ShopId, body: RefreshRequest, session: SessionDep, ident: IdentityDep
) -> TokenPair:
    """Exchange a refresh token for a new pair. Each refresh token works once."""
    return await sessions.refresh(session, ident, shop, body.refresh_token)


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], openapi_extra=PUBLIC
)
async def logout(
    shop: ShopId, body: RefreshRequest, session: SessionDep, ident: IdentityDep
) -> Response:
    """End the session of this refresh token (its whole family)."""
    await sessions.logout(session, ident, shop, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- users


@router.get("/users/me", tags=["users"])
async def read_me(shop: ShopId, me: CurrentUser, request: Request) -> UserPublic:
    return await service.get_user(request.app.state.reads, shop, me.user_id)


@router.patch("/users/me", tags=["users"])
async def update_me(
    shop: ShopId,
    body: UserUpdate,
    me: CurrentUser,
    session: SessionDep,
    ident: IdentityDep,
    address: ClientAddress,
) -> UserPublic:
    """Change your display name or password (send `current_password` with a new password)."""
    return await service.update_user(session, ident, shop, me.user_id, body, address=address)


@router.get("/users", tags=["users"])
async def list_users(
    shop: ShopId,
    _admin: AdminUser,
    session: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    role: Role | None = None,
    email: Annotated[
        str | None, Query(max_length=254, pattern=NO_CONTROL_CHARS, description="An email prefix.")
    ] = None,
) -> UsersPage:
    """The shop's users, oldest first (admin)."""
    return await service.list_users(
        session, shop, limit=limit, cursor=cursor, role=role, email_prefix=email
    )


@router.put("/users/{user_id}/roles", tags=["users"])
async def set_roles(
    shop: ShopId,
    user_id: UserId,
    body: RolesUpdate,
    _admin: AdminUser,
    session: SessionDep,
    ident: IdentityDep,
) -> UserPublic:
    """Replace a user's roles (admin), effective on the user's next request. The shop's
    last Admin keeps the role."""
    user = await service.set_roles(session, shop, user_id, body.roles)
    await ident.sessions_changed()
    return user


@router.post(
    "/users/{user_id}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses={404: {"description": "No user with this id in this shop."}},
)
async def unlock_user(
    shop: ShopId, user_id: UserId, _admin: AdminUser, session: ReaderDep, ident: IdentityDep
) -> Response:
    """Lift the login delays of a user's account (admin).

    After repeated failed logins an account waits longer and longer (429 with Retry-After)
    before the next password check; this forgets its failures at once. The user's own
    sessions are not touched; the delays of client addresses stay.
    """
    await sessions.unlock_user(session, ident, shop, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- platform

platform_router = APIRouter(tags=["platform"])


@platform_router.get("/.well-known/jwks.json")
async def jwks(ident: IdentityDep) -> JSONResponse:
    """The public keys that verify access tokens (the active one and recently retired ones)."""
    return JSONResponse(await ident.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


internal_router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[PlatformCaller])
# Service-to-service reads: reachable only by invocation, never through the gateway.
peer_router = APIRouter(tags=["internal"])
ShopSlug = Annotated[ids.ShopSlug, Path(description="The shop's slug.")]


@peer_router.get(SETTINGS_PATH)
async def read_shop_settings(shop: ShopSlug, session: ReaderDep) -> ShopSettings:
    tenant = await tenants.get_tenant(session, shop)
    if tenant is None:
        raise ShopNotFound.of(shop)
    return ShopSettings(
        shop=tenant.shop,
        display_name=tenant.display_name,
        currency=tenant.currency,
        quotas=tenant.quotas,
    )


@peer_router.get(SESSIONS_PATH, dependencies=[PlatformOrServiceCaller])
async def read_session_changes(
    ident: IdentityDep,
    session: ReaderDep,
    since: Annotated[float, Query(ge=0, description="Unix seconds.")] = 0,
) -> SessionChanges:
    """Users whose roles or session version changed since `since`: every token verifier
    reads this (kit/sessions.py), with the platform credential or the service credential
    of its namespace (it names users and roles)."""
    return await session_changes(
        session,
        since=since,
        now=ident.now(),
        access_token_ttl_s=ident.settings.access_token_ttl_s,
    )


@internal_router.post("/tenants", status_code=status.HTTP_201_CREATED)
async def bootstrap_tenant(
    body: TenantBootstrap, session: SessionDep, ident: IdentityDep, response: Response
) -> TenantPublic:
    """Create a shop and its Admin; 200 with `created: false` if the shop exists (adopted
    by `owner` if it had none or is its namespace's), 409 `tenant-owned` if another
    namespace's Shop owns it."""
    tenant = await tenants.bootstrap_tenant(session, body, ident.hasher)
    if not tenant.created:
        response.status_code = status.HTTP_200_OK
    return tenant


@internal_router.post("/tenants/{shop}/admin-token")
async def issue_admin_token(
    shop: ShopSlug, session: ReaderDep, ident: IdentityDep, response: Response
) -> AdminToken:
    """An access token of the shop's first Admin, for the platform (the demo seeding): it
    needs no password and no login, so no account state can stop the platform's start."""
    response.headers["Cache-Control"] = "no-store"
    return await sessions.admin_token(session, ident, shop)


@internal_router.get("/tenants/{shop}")
async def read_tenant(shop: ShopSlug, session: ReaderDep) -> TenantPublic:
    tenant = await tenants.get_tenant(session, shop)
    if tenant is None:
        raise ShopNotFound.of(shop)
    return tenant
