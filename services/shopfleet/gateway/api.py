"""The gateway's own routes: platform endpoints and the internal routes API."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from shopfleet.gateway.openapi import OpenApiAggregator
from shopfleet.gateway.routes import Route, RouteFile, RouteTableDoc
from shopfleet.kit.auth import SHOP_SLUG_PATTERN, PlatformCaller
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.errors import NotFound, Problem

ShopSlug = Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")]


def platform_router(
    routes: RouteFile, invoker: Invoker, aggregator: OpenApiAggregator
) -> APIRouter:
    router = APIRouter()

    async def pass_through(request: Request, app_id: str, path: str) -> Response:
        try:
            answer = await invoker.invoke(
                app_id,
                request.method,
                path,
                body=await request.body(),
                headers=[
                    (k, v) for k, v in request.headers.raw if k not in (b"host", b"content-length")
                ],
                query=request.url.query,
            )
        except ServiceUnavailable:
            raise Problem(
                503,
                f"The {app_id} service is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            ) from None
        keep = {"content-type", "cache-control", "etag", "location"}
        headers = {k.decode(): v.decode() for k, v in answer.headers if k.decode().lower() in keep}
        return Response(answer.body, status_code=answer.status, headers=headers)

    @router.get("/", include_in_schema=False)
    async def index() -> dict[str, str]:
        return {
            "name": "shopfleet",
            "docs": "/docs",
            "openapi": "/openapi.json",
            "shop_api": "/shops/{shop}/api/v1",
        }

    @router.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks(request: Request) -> Response:
        return await pass_through(request, "identity", "/.well-known/jwks.json")

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi() -> Response:
        return Response(await aggregator.document(), media_type="application/json")

    @router.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="shopfleet API")

    internal = APIRouter(prefix="/internal", dependencies=[PlatformCaller], include_in_schema=False)

    @internal.get("/routes")
    async def list_routes() -> RouteTableDoc:
        routes.load()
        return routes.table.doc

    @internal.put("/routes/{shop}")
    async def put_route(shop: ShopSlug, route: Route) -> Route:
        taken = {h for s, r in routes.table.doc.shops.items() if s != shop for h in r.hosts}
        clash = sorted(taken.intersection(h.lower() for h in route.hosts))
        if clash:
            raise Problem(
                409,
                f"Host(s) {', '.join(clash)} already belong to another shop.",
                slug="host-taken",
            )
        try:
            routes.put(shop, route)
        except OSError as exc:
            raise Problem(
                409, f"The route table is read-only here ({exc.strerror}); the operator manages it."
            ) from None
        return route

    @internal.delete("/routes/{shop}", status_code=204)
    async def delete_route(shop: ShopSlug) -> None:
        if not routes.remove(shop):
            raise NotFound(f"There is no route for shop '{shop}'.")

    def identity_of(shop: object) -> str:
        """The identity app that holds `shop`: its own for a dedicated shop with a route."""
        route = routes.table.shop(shop) if isinstance(shop, str) else None
        return route.app_id("identity") if route is not None else "identity"

    @internal.api_route("/tenants", methods=["POST"])
    async def bootstrap_tenant(request: Request) -> Response:
        try:
            shop = orjson.loads(await request.body()).get("shop")
        except (orjson.JSONDecodeError, AttributeError):
            shop = None  # identity answers the malformed body with its own 422
        return await pass_through(request, identity_of(shop), "/internal/tenants")

    @internal.get("/tenants/{shop}")
    async def get_tenant(request: Request, shop: ShopSlug) -> Response:
        return await pass_through(request, identity_of(shop), f"/internal/tenants/{shop}")

    @internal.post("/tenants/{shop}/admin-token")
    async def admin_token(request: Request, shop: ShopSlug) -> Response:
        path = f"/internal/tenants/{shop}/admin-token"
        return await pass_through(request, identity_of(shop), path)

    router.include_router(internal)
    return router
