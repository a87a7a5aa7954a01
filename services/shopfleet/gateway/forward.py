"""Handing one of the gateway's own requests on to a service: `pass_through` to an app-id,
`to_service` to the app that holds a shop (its own for a dedicated shop)."""

from __future__ import annotations

from fastapi import Request, Response

from shopfleet.gateway.routes import RouteFile
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.credentials import SHOP_PLATFORM_CREDENTIAL, derived_credential
from shopfleet.kit.contracts.tenants import IDENTITY_APP_HEADER, ROUTE_NOT_LOADED
from shopfleet.kit.errors import Problem

_KEPT_HEADERS = {"content-type", "cache-control", "etag", "location"}


async def pass_through(
    invoker: Invoker, request: Request, app_id: str, path: str, *, credential: str | None = None
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
    kept = {
        k.decode(): v.decode() for k, v in answer.headers if k.decode().lower() in _KEPT_HEADERS
    }
    return Response(answer.body, status_code=answer.status, headers=kept)


async def to_service(
    routes: RouteFile, invoker: Invoker, request: Request, shop: object, service: str, path: str
) -> Response:
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
    return await pass_through(invoker, request, app_id, path, credential=credential)
