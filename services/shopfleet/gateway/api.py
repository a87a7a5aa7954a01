"""The gateway's own routes: platform endpoints and the internal routes API."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from shopfleet.gateway.openapi import OpenApiAggregator
from shopfleet.gateway.routes import RouteFile
from shopfleet.kit.auth import PlatformCaller
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.credentials import SHOP_PLATFORM_CREDENTIAL, derived_credential
from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.contracts.routes import Route, RouteTableDoc
from shopfleet.kit.contracts.tenants import IDENTITY_APP_HEADER, ROUTE_NOT_LOADED
from shopfleet.kit.errors import NotFound, Problem
from shopfleet.kit.tenant_data import PURGE_ORDER, PURGE_PATH, USAGE_PATH, USAGE_SERVICES, Usage

ShopSlug = Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")]


def platform_router(
    routes: RouteFile, invoker: Invoker, aggregator: OpenApiAggregator
) -> APIRouter:
    router = APIRouter()

    async def pass_through(
        request: Request, app_id: str, path: str, *, credential: str | None = None
    ) -> Response:
        """The request to `app_id`'s `path`; with `credential`, as its bearer instead."""
        drop = (b"host", b"content-length") + ((b"authorization",) if credential else ())
        headers = [(k, v) for k, v in request.headers.raw if k not in drop]
        if credential:
            headers.append((b"authorization", f"Bearer {credential}".encode()))
        try:
            answer = await invoker.invoke(
                app_id,
                request.method,
                path,
                body=await request.body(),
                headers=headers,
                query=request.url.query,
            )
        except ServiceUnavailable:
            raise Problem(
                503,
                f"The {app_id} service is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            ) from None
        keep = {"content-type", "cache-control", "etag", "location"}
        kept = {k.decode(): v.decode() for k, v in answer.headers if k.decode().lower() in keep}
        return Response(answer.body, status_code=answer.status, headers=kept)

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

    @internal.get("/routes/{shop}")
    async def get_route(shop: ShopSlug) -> Route:
        """The shop's route as this replica serves it now (the operator's RoutesReady asks
        every replica: a mounted ConfigMap reaches each one up to a minute apart)."""
        routes.load()
        route = routes.table.shop(shop)
        if route is None:
            raise NotFound(f"This gateway has no route for shop '{shop}' loaded.")
        return route

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

    async def to_identity(request: Request, shop: object, path: str) -> Response:
        return await to_service(request, shop, "identity", path)

    async def to_service(request: Request, shop: object, service: str, path: str) -> Response:
        """To the `service` app that holds `shop`: its own for a dedicated shop with a
        route, which is offered the shop's credential derived from the platform's (the
        operator gives it that one, never the platform's: kit/contracts/credentials.py)."""
        route = routes.table.shop(shop) if isinstance(shop, str) else None
        app_id = route.app_id(service) if route is not None else service
        expected = request.headers.get(IDENTITY_APP_HEADER) if service == "identity" else None
        if expected and expected != app_id:
            raise Problem(
                503,
                f"The gateway does not route shop '{shop}' to {expected} yet (its route table "
                f"says {app_id}); retry shortly.",
                slug=ROUTE_NOT_LOADED,
                headers={"Retry-After": "5"},
            )
        token = request.app.state.platform_token  # PlatformCaller: the caller offered it
        credential = None
        if app_id != service and isinstance(shop, str) and token:
            credential = derived_credential(token, shop, SHOP_PLATFORM_CREDENTIAL)
        return await pass_through(request, app_id, path, credential=credential)

    @internal.api_route("/tenants", methods=["POST"])
    async def bootstrap_tenant(request: Request) -> Response:
        try:
            shop = orjson.loads(await request.body()).get("shop")
        except (orjson.JSONDecodeError, AttributeError):
            shop = None  # identity answers the malformed body with its own 422
        return await to_identity(request, shop, "/internal/tenants")

    @internal.get("/tenants/{shop}")
    async def get_tenant(request: Request, shop: ShopSlug) -> Response:
        return await to_identity(request, shop, f"/internal/tenants/{shop}")

    @internal.post("/tenants/{shop}/admin-token")
    async def admin_token(request: Request, shop: ShopSlug) -> Response:
        return await to_identity(request, shop, f"/internal/tenants/{shop}/admin-token")

    # A service's refusal passes through as it is: the model is declared, not the annotation.
    @internal.get("/tenants/{shop}/usage", response_model=Usage)
    async def tenant_usage(request: Request, shop: ShopSlug) -> Usage | Response:
        """The shop's usage against its quotas: products (catalog), orders today (orders)."""
        usage = Usage()
        for service in USAGE_SERVICES:
            answer = await to_service(request, shop, service, USAGE_PATH.format(shop=shop))
            if answer.status_code != 200:
                return answer
            counted = Usage.model_validate_json(bytes(answer.body))
            usage.products = counted.products or usage.products
            usage.orders_today = counted.orders_today or usage.orders_today
        return usage

    @internal.delete("/tenants/{shop}/data/{service}")
    async def purge_tenant_data(request: Request, shop: ShopSlug, service: str) -> Response:
        """Delete what `service` keeps for the shop (idempotent); identity goes last."""
        if service not in PURGE_ORDER:
            raise NotFound(
                f"No service '{service}' keeps tenant data; one of: {', '.join(PURGE_ORDER)}."
            )
        return await to_service(request, shop, service, PURGE_PATH.format(shop=shop))

    router.include_router(internal)
    return router
