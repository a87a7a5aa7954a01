"""Verifying access tokens and guarding routes by principal, role and shop.

Identity signs RS256 access tokens (claims `sub`, `shop`, `roles`, `jti`, `exp`) with a key
named by `kid` and publishes the public keys as a JWKS. Everyone else verifies with
`TokenVerifier`, which caches verified tokens until they expire: an RS256 check costs
hundreds of microseconds, a cache hit a dictionary lookup. Its `SessionView`
(kit/sessions.py) then ends, or strips roles from, tokens whose user's session changed
since they were issued: another dictionary lookup.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import jwt
import structlog
from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security import HTTPBearer

from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.errors import NotFound, Problem

if TYPE_CHECKING:
    from shopfleet.kit.sessions import SessionView

log = structlog.get_logger("shopfleet.auth")

SHOP_API_PREFIX = "/shops/{shop}/api/v1"


class Role(StrEnum):
    ADMIN = "Admin"
    USER = "User"
    PLATFORM_ADMIN = "PlatformAdmin"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    shop: str
    roles: frozenset[str]
    token_id: str
    expires_at: float
    session_version: int = 0  # claim `sv`: the user's session version when it was issued

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles or self.is_platform_admin

    @property
    def is_platform_admin(self) -> bool:
        return Role.PLATFORM_ADMIN in self.roles

    def may_act_in(self, shop: str) -> bool:
        return self.shop == shop or self.is_platform_admin


class Unauthenticated(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(
            401,
            detail,
            slug="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="shopfleet"'},
        )


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class TokenVerifier:
    """Verifies access tokens against a JWKS, with a cache of verified tokens."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 50_000,
        refetch_interval_s: float = 5.0,
        sessions: SessionView | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        self.sessions = sessions
        self._issuer = issuer
        self._audience = audience
        self._cache: dict[str, Principal] = {}
        self._cache_size = cache_size
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._refetch_interval_s = refetch_interval_s
        self._clock = clock

    async def verify(self, token: str, *, fresh_roles: bool = True) -> Principal:
        """The token's principal, as its user's session allows now.

        `fresh_roles`: an Admin's roles are confirmed with identity first (unless this
        process's view is identity's own), so a demoted Admin is refused on its next
        request; a caller that decides nothing by role (the gateway) passes False.
        """
        principal = self._cache.get(token)
        now = self._clock()
        if principal is None or principal.expires_at <= now:
            principal = await self._verify_signature(token)
            if len(self._cache) >= self._cache_size:
                self._evict(now)
            self._cache[token] = principal
        sessions = self.sessions
        if sessions is None:
            return principal
        if sessions.stale():
            await sessions.catch_up()
        principal = sessions.apply(principal)
        if fresh_roles and principal.is_admin and not sessions.authoritative:
            await sessions.refresh()
            principal = sessions.apply(principal)
        return principal

    def forget(self, token: str) -> None:
        self._cache.pop(token, None)

    def _evict(self, now: float) -> None:
        for key in [k for k, p in self._cache.items() if p.expires_at <= now]:
            del self._cache[key]
        while len(self._cache) >= self._cache_size:  # still full: drop the oldest entries
            del self._cache[next(iter(self._cache))]

    async def _verify_signature(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is malformed; log in again.") from None
        key = await self._key(kid)
        if key is None:
            raise Unauthenticated("The access token was signed with an unknown key; log in again.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(
                "The access token has expired; refresh it or log in again."
            ) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The access token is invalid ({exc}); log in again.") from None
        shop, roles = claims.get("shop"), claims.get("roles")
        if not isinstance(shop, str) or not isinstance(roles, list):
            raise Unauthenticated("The access token lacks its shop or roles; log in again.")
        version = claims.get("sv", 0)  # tokens issued before versions existed: 0
        if not isinstance(version, int) or isinstance(version, bool):
            raise Unauthenticated("The access token's session version is invalid; log in again.")
        return Principal(
            user_id=str(claims["sub"]),
            shop=shop,
            roles=frozenset(map(str, roles)),
            token_id=str(claims["jti"]),
            expires_at=float(claims["exp"]),
            session_version=version,
        )

    async def _key(self, kid: str | None) -> Any:
        if kid in self._keys:
            return self._keys[kid]
        if self._clock() - self._fetched_at >= self._refetch_interval_s or not self._keys:
            await self._refresh()
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self) -> None:
        try:
            jwks = await self._fetch_jwks()
        except Exception as exc:  # identity down: keep the keys we have
            log.warning("jwks fetch failed", error=str(exc))
            raise Problem(
                503,
                "Cannot verify tokens right now: the identity service is unavailable; "
                "retry shortly.",
            ) from exc
        keys = {}
        for jwk in jwks.get("keys", []):
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
            except (KeyError, jwt.PyJWTError) as exc:
                log.warning("ignoring a bad JWK", error=str(exc))
        self._keys = keys
        self._fetched_at = self._clock()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the access token as 'Authorization: Bearer <token>'.")
    return token.strip()


# ----------------------------------------------------------------------------- dependencies


async def _shop_from_path(  # async: a plain def would run in the thread pool
    shop: Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")],
) -> str:
    return shop


ShopId = Annotated[str, Depends(_shop_from_path)]


# Declared so OpenAPI documents bearer auth; the header is parsed by `bearer_token`.
_bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="An access token from /auth/login."
)


async def _optional_principal(
    request: Request, shop: ShopId, _: Annotated[object, Security(_bearer_scheme)] = None
) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier  # set by kit.service.create_app
    principal = await verifier.verify(token)
    if not principal.may_act_in(shop):
        # Another shop's token: answer as if nothing were here, so nothing leaks across shops.
        raise NotFound(f"Nothing here for this credential in shop '{shop}'.")
    return principal


async def _current_principal(
    principal: Annotated[Principal | None, Depends(_optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthenticated("Log in first: send 'Authorization: Bearer <access token>'.")
    return principal


async def _admin_principal(
    principal: Annotated[Principal, Depends(_current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise Problem(403, "Only a shop Admin may do this.", slug="forbidden")
    return principal


async def _owner_or_admin_principal(
    principal: Annotated[Principal, Depends(_current_principal)],
) -> Principal:
    # The same check as `CurrentUser`; a dependency of its own so that the route's access
    # (`x-shopfleet-access: owner-or-admin`) can be read off it.
    return principal


OptionalUser = Annotated[Principal | None, Depends(_optional_principal)]
CurrentUser = Annotated[Principal, Depends(_current_principal)]
"""A signed-in user of the shop, acting on their own objects only (an Admin too)."""
OwnerOrAdmin = Annotated[Principal, Depends(_owner_or_admin_principal)]
"""A signed-in user acting on their own objects; an Admin acts on everyone's."""
AdminUser = Annotated[Principal, Depends(_admin_principal)]


async def _platform_caller(request: Request) -> None:
    expected = request.app.state.platform_token
    token = bearer_token(request)
    if expected is None:
        raise Problem(403, "Platform endpoints are disabled: set SHOPFLEET_PLATFORM_TOKEN.")
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthenticated("This internal endpoint needs the platform credential.")


PlatformCaller = Depends(_platform_caller)

SERVICE_TOKEN_HEADER = "x-shopfleet-service-token"


async def _platform_or_service_caller(request: Request) -> None:
    """The platform credential, or the service credential of this deployment: for what
    both the platform and the services of a (dedicated) namespace read, such as the feed
    of ended sessions."""
    expected = request.app.state.service_token
    offered = request.headers.get(SERVICE_TOKEN_HEADER)
    if expected and offered and hmac.compare_digest(offered.encode(), expected.encode()):
        return
    await _platform_caller(request)


PlatformOrServiceCaller = Depends(_platform_or_service_caller)


# ----------------------------------------------------------------------------- access

ACCESS_EXTENSION = "x-shopfleet-access"


class Access(StrEnum):
    """Who may call an operation, as its OpenAPI document says (`x-shopfleet-access`)."""

    PUBLIC = "public"  # anyone, signed in or not
    USER = "user"  # a signed-in user of the shop, on their own objects
    OWNER_OR_ADMIN = "owner-or-admin"  # a signed-in user on their own; an Admin on anyone's
    ADMIN = "admin"  # a shop Admin
    PLATFORM = "platform"  # the platform credential (internal routes)


# Strongest first: a route that depends on several answers to the strongest.
_ACCESS_OF_DEPENDENCY: tuple[tuple[Callable[..., Any], Access], ...] = (
    (_platform_caller, Access.PLATFORM),
    (_platform_or_service_caller, Access.PLATFORM),
    (_admin_principal, Access.ADMIN),
    (_owner_or_admin_principal, Access.OWNER_OR_ADMIN),
    (_current_principal, Access.USER),
    (_optional_principal, Access.PUBLIC),
)

PUBLIC: dict[str, Any] = {ACCESS_EXTENSION: Access.PUBLIC.value}
"""`openapi_extra` of a route that looks at no principal: say that anyone may call it."""


def _dependency_calls(dependant: Dependant) -> set[Callable[..., Any] | None]:
    calls: set[Callable[..., Any] | None] = set()
    for dependency in dependant.dependencies:
        calls.add(dependency.call)
        calls |= _dependency_calls(dependency)
    return calls


def access_of(route: APIRoute | RouteContext) -> Access | None:
    """The access a route's dependencies give it, or what it declares; None: neither.

    `route`: an `APIRoute` or FastAPI's `RouteContext` of one (an included router's route).
    """
    declared = (route.openapi_extra or {}).get(ACCESS_EXTENSION)
    calls = _dependency_calls(route.dependant)
    derived = next((access for call, access in _ACCESS_OF_DEPENDENCY if call in calls), None)
    if declared is not None and derived not in (None, Access(declared)):
        raise ValueError(
            f"{route.path_format} declares {ACCESS_EXTENSION}: {declared} but its "
            f"dependencies make it {derived}; drop the declaration or the dependency."
        )
    return Access(declared) if declared is not None else derived


def publish_access(app: FastAPI) -> None:
    """Write each operation's access into the app's OpenAPI document (`x-shopfleet-access`).

    Read off the route's dependencies (`OptionalUser`, `CurrentUser`, `OwnerOrAdmin`,
    `AdminUser`, `PlatformCaller`); a route that uses none of them declares it
    (`openapi_extra=PUBLIC`) or publishes nothing — and the authorization matrix fails on it.
    """
    generate = app.openapi

    def accesses() -> list[tuple[str, set[str], Access]]:
        found = []
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            # An APIRoute always has a path format; the context's type allows None.
            path = route.path_format
            if path is not None and (access := access_of(route)) is not None:
                found.append((path, route.methods or set(), access))
        return found

    accesses()  # a contradiction fails the app's build, not its docs

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI; the loop below is idempotent
        paths = document.get("paths", {})
        for path, methods, access in accesses():
            for method in methods:
                operation = paths.get(path, {}).get(method.lower())
                if operation is not None:
                    operation[ACCESS_EXTENSION] = access.value
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way
