"""The cart's HTTP routes: thin wrappers that read headers (deps.py), validate input and
call `Carts`.

Who owns the cart: a signed-in user (bearer token) or an anonymous shopper identified by
`X-Cart-Id` (a UUID the server issues on the first write without one). Every answer that
shows a stored cart carries its `ETag`; writes accept `If-Match` (412 when stale).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import TypeAdapter

from shopfleet.cart.deps import (
    CART_ID_HEADER,
    CartsDep,
    IfMatchDep,
    Reader,
    Trace,
    Writer,
    trace_of,
)
from shopfleet.cart.etags import quote_etag
from shopfleet.cart.models import (
    AddItem,
    CartPublic,
    RemovedLinesPublic,
    RestoreRequest,
    UpdateItem,
)
from shopfleet.cart.service import Carts
from shopfleet.cart.shopper import Shopper
from shopfleet.cart.views import CartView
from shopfleet.kit.auth import SHOP_API_PREFIX, Unauthenticated
from shopfleet.kit.contracts.ids import PRODUCT_ID_PATTERN

_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "The cart's version. Send it back in If-Match to change the cart only "
        "if nobody else has changed it since. Absent while the cart does not exist.",
        "schema": {"type": "string"},
    },
    CART_ID_HEADER: {
        "description": "Anonymous shoppers: the cart's id. Issued by the first write that "
        "comes without one; send it with every later request (and once after logging in, "
        "to merge the anonymous cart into the user's cart).",
        "schema": {"type": "string", "format": "uuid"},
    },
}
_CART_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"headers": _HEADERS}}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": _HEADERS},
    409: {"description": "Stock, limits, or the cart is busy (retry)."},
    412: {"description": "If-Match does not match the cart's current ETag."},
    503: {"description": "Catalog unavailable: prices cannot be checked; nothing changed."},
}


ProductIdPath = Annotated[
    str, Path(pattern=PRODUCT_ID_PATTERN, description="The product of the line.")
]

router = APIRouter(prefix=SHOP_API_PREFIX, tags=["cart"])
JSON = "application/json"


def _answer(response: Response, who: Shopper, view: CartView) -> CartPublic:
    if view.etag is not None:
        response.headers["ETag"] = quote_etag(view.etag)
    if who.user_id is None and who.cart_id is not None:
        response.headers[CART_ID_HEADER] = who.cart_id
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = f"Authorization, {CART_ID_HEADER}"
    return view.cart


# How FastAPI writes a returned `CartPublic`, without validating the model it was just
# built as once more (the read's hot path; writes return the model).
_CART_JSON = TypeAdapter(CartPublic)


@router.get("/cart", response_model=CartPublic, responses=_CART_RESPONSES)
async def read_cart(who: Reader, request: Request) -> Response:
    """The cart with today's prices and stock, each line flagged when something changed.

    A signed-in request with `X-Cart-Id` merges that anonymous cart into the user's cart.
    """
    carts: Carts = request.app.state.carts  # not dependencies: each costs a solving step
    view = await carts.view(who, trace=await trace_of(request))
    response = Response(_CART_JSON.dump_json(view.cart, by_alias=True), media_type=JSON)
    _answer(response, who, view)
    return response


@router.post("/cart/items", responses=_WRITE_RESPONSES)
async def add_item(
    body: AddItem,
    who: Writer,
    carts: CartsDep,
    response: Response,
    if_match: IfMatchDep,
    trace: Trace,
) -> CartPublic:
    """Add units of a product (to its line, if the cart has one)."""
    view = await carts.add(who, body.product_id, body.quantity, if_match, trace=trace)
    return _answer(response, who, view)


@router.patch("/cart/items/{product_id}", responses=_WRITE_RESPONSES)
async def update_item(
    product_id: ProductIdPath,
    body: UpdateItem,
    who: Writer,
    carts: CartsDep,
    response: Response,
    if_match: IfMatchDep,
    trace: Trace,
) -> CartPublic:
    """Set a line's quantity (1 to 99; to remove a line, DELETE it)."""
    view = await carts.set_quantity(who, product_id, body.quantity, if_match, trace=trace)
    return _answer(response, who, view)


@router.delete("/cart/items/{product_id}", responses=_WRITE_RESPONSES)
async def remove_item(
    product_id: ProductIdPath,
    who: Writer,
    carts: CartsDep,
    response: Response,
    if_match: IfMatchDep,
    trace: Trace,
) -> CartPublic:
    """Remove a line; it is kept among the removed lines, to restore."""
    return _answer(response, who, await carts.remove(who, product_id, if_match, trace=trace))


@router.delete("/cart", responses=_WRITE_RESPONSES)
async def clear_cart(
    who: Writer, carts: CartsDep, response: Response, if_match: IfMatchDep, trace: Trace
) -> CartPublic:
    """Empty the cart; its lines are kept among the removed lines, to restore."""
    return _answer(response, who, await carts.clear(who, if_match, trace=trace))


@router.get("/cart/removed")
async def list_removed(who: Reader, carts: CartsDep, trace: Trace) -> RemovedLinesPublic:
    """Recently removed lines (newest first), with today's prices, restorable for a while."""
    return await carts.removed(who, trace=trace)


@router.post("/cart/restore", responses=_WRITE_RESPONSES)
async def restore(
    who: Writer,
    carts: CartsDep,
    response: Response,
    if_match: IfMatchDep,
    trace: Trace,
    body: Annotated[RestoreRequest | None, Body()] = None,
) -> CartPublic:
    """Put removed lines back (`product_ids`, or all), or the lines of a cancelled order
    (`order_id`, signed in). Quantities add up to at most 99 per line."""
    body = body or RestoreRequest()
    if body.order_id is not None:
        if who.user_id is None:
            raise Unauthenticated("Log in to put back the lines of an order.")
        view = await carts.restore_order(who, body.order_id, if_match, trace=trace)
    else:
        view = await carts.restore(who, body.product_ids, if_match, trace=trace)
    return _answer(response, who, view)
