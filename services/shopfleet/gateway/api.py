"""The gateway's own routes: platform endpoints (`router`) and the internal routes and
tenants API (`internal_router`, platform callers only). What they use comes from deps.py."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from shopfleet.gateway.deps import AggregatorDep, InvokerDep, RoutesDep
from shopfleet.gateway.forward import pass_through, to_service
from shopfleet.kit.auth import PlatformCaller
from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.contracts.routes import Route, RouteTableDoc
from shopfleet.kit.errors import NotFound, Problem
from shopfleet.kit.tenant_data import PURGE_ORDER, PURGE_PATH, USAGE_PATH, USAGE_SERVICES, Usage

ShopSlug = Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")]

router = APIRouter()
internal_router = APIRouter(
    prefix="/internal", dependencies=[PlatformCaller], include_in_schema=False
)


@router.get("/", include_in_schema=False)
async def index() -> dict[str, str]:
    return {
        "name": "shopfleet",
        "docs": "/docs",
        "openapi": "/openapi.json",
        "shop_api": "/shops/{shop}/api/v1",
    }


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request, invoker: InvokerDep) -> Response:
    return await pass_through(invoker, request, "identity", "/.well-known/jwks.json")


@router.get("/openapi.json", include_in_schema=False)
async def openapi(aggregator: AggregatorDep) -> Response:
    return Response(await aggregator.document(), media_type="application/json")


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="shopfleet API")


# ----------------------------------------------------------------------------- route table


@internal_router.get("/routes")
async def list_routes(routes: RoutesDep) -> RouteTableDoc:
    routes.load()
    return routes.table.doc


@internal_router.get("/routes/{shop}")
async def get_route(shop: ShopSlug, routes: RoutesDep) -> Route:
    """The shop's route as this replica serves it now (the operator's RoutesReady asks
    every replica: a mounted ConfigMap reaches each one up to a minute apart)."""
    routes.load()
    route = routes.table.shop(shop)
    if route is None:
        raise NotFound(f"This gateway has no route for shop '{shop}' loaded.")
    return route


@internal_router.put("/routes/{shop}")
async def put_route(shop: ShopSlug, route: Route, routes: RoutesDep) -> Route:
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


@internal_router.delete("/routes/{shop}", status_code=204)
async def delete_route(shop: ShopSlug, routes: RoutesDep) -> None:
    if not routes.remove(shop):
        raise NotFound(f"There is no route for shop '{shop}'.")


# ----------------------------------------------------------------------------- tenants


@internal_router.api_route("/tenants", methods=["POST"])
async def bootstrap_tenant(request: Request, routes: RoutesDep, invoker: InvokerDep) -> Response:
    try:
        shop = orjson.loads(await request.body()).get("shop")
    except (orjson.JSONDecodeError, AttributeError):
        shop = None  # identity answers the malformed body with its own 422
    return await to_service(routes, invoker, request, shop, "identity", "/internal/tenants")


@internal_router.get("/tenants/{shop}")
async def get_tenant(
    request: Request, shop: ShopSlug, routes: RoutesDep, invoker: InvokerDep
) -> Response:
    path = f"/internal/tenants/{shop}"
    return await to_service(routes, invoker, request, shop, "identity", path)


@internal_router.post("/tenants/{shop}/admin-token")
async def admin_token(
    request: Request, shop: ShopSlug, routes: RoutesDep, invoker: InvokerDep
) -> Response:
    path = f"/internal/tenants/{shop}/admin-token"
    return await to_service(routes, invoker, request, shop, "identity", path)


# A service's refusal passes through as it is: the model is declared, not the annotation.
@internal_router.get("/tenants/{shop}/usage", response_model=Usage)
async def tenant_usage(
    request: Request, shop: ShopSlug, routes: RoutesDep, invoker: InvokerDep
) -> Usage | Response:
    """The shop's usage against its quotas: products (catalog), orders today (orders)."""
    usage = Usage()
    for service in USAGE_SERVICES:
        path = USAGE_PATH.format(shop=shop)
        answer = await to_service(routes, invoker, request, shop, service, path)
        if answer.status_code != 200:
            return answer
        counted = Usage.model_validate_json(bytes(answer.body))
        usage.products = counted.products or usage.products
        usage.orders_today = counted.orders_today or usage.orders_today
    return usage


@internal_router.delete("/tenants/{shop}/data/{service}")
async def purge_tenant_data(
    request: Request, shop: ShopSlug, service: str, routes: RoutesDep, invoker: InvokerDep
) -> Response:
    """Delete what `service` keeps for the shop (idempotent); identity goes last."""
    if service not in PURGE_ORDER:
        raise NotFound(
            f"No service '{service}' keeps tenant data; one of: {', '.join(PURGE_ORDER)}."
        )
    path = PURGE_PATH.format(shop=shop)
    return await to_service(routes, invoker, request, shop, service, path)
