"""Each operation's `x-shopfleet-access`, read off the route's principal dependency."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from shopfleet.kit.auth import (
    PUBLIC,
    SHOP_API_PREFIX,
    AdminUser,
    CurrentUser,
    OptionalUser,
    OwnerOrAdmin,
    PlatformCaller,
    ShopId,
    publish_access,
)


def _app() -> FastAPI:
    router = APIRouter(prefix=SHOP_API_PREFIX)

    @router.get("/admin")
    async def admin(shop: ShopId, _: AdminUser) -> None: ...

    @router.get("/mine")
    async def mine(shop: ShopId, _: CurrentUser) -> None: ...

    @router.get("/anyones")
    async def anyones(shop: ShopId, _: OwnerOrAdmin) -> None: ...

    @router.get("/maybe")
    async def maybe(shop: ShopId, _: OptionalUser) -> None: ...

    @router.get("/declared", openapi_extra=PUBLIC)
    async def declared(shop: ShopId) -> None: ...

    @router.get("/silent")
    async def silent(shop: ShopId) -> None: ...

    internal = APIRouter(prefix="/internal", dependencies=[PlatformCaller])

    @internal.get("/thing")
    async def thing() -> None: ...

    app = FastAPI()
    app.include_router(router)
    app.include_router(internal)
    publish_access(app)
    return app


def test_access_comes_from_the_dependency_or_the_declaration() -> None:
    paths = _app().openapi()["paths"]
    access = {
        path.removeprefix(SHOP_API_PREFIX): item["get"].get("x-shopfleet-access")
        for path, item in paths.items()
    }
    assert access == {
        "/admin": "admin",
        "/mine": "user",
        "/anyones": "owner-or-admin",
        "/maybe": "public",
        "/declared": "public",
        "/silent": None,  # the authorization matrix fails on it, saying what to declare
        "/internal/thing": "platform",
    }


def test_a_declaration_that_contradicts_the_dependencies_is_refused() -> None:
    router = APIRouter(prefix=SHOP_API_PREFIX)

    @router.get("/wrong", openapi_extra=PUBLIC)
    async def wrong(shop: ShopId, _: AdminUser) -> None: ...

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(ValueError, match="declares x-shopfleet-access: public"):
        publish_access(app)
