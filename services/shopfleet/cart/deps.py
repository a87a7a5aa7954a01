"""What the cart's routes depend on: the use cases (`Carts`, `CheckoutHooks`), built once
by `create_app`, and who is asking (`Shopper`), its If-Match and the trace to pass on."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request

from shopfleet.cart.checkout import CheckoutHooks
from shopfleet.cart.etags import IfMatch
from shopfleet.cart.service import Carts
from shopfleet.cart.shopper import Shopper
from shopfleet.kit.auth import OptionalUser, ShopId
from shopfleet.kit.contracts.ids import CART_ID_PATTERN

CART_ID_HEADER = "X-Cart-Id"


async def _carts(request: Request) -> Carts:  # async: a def would run in a thread
    carts: Carts = request.app.state.carts
    return carts


async def _checkout(request: Request) -> CheckoutHooks:
    hooks: CheckoutHooks = request.app.state.checkout
    return hooks


async def _shopper(
    shop: ShopId,
    user: OptionalUser,
    x_cart_id: Annotated[
        str | None,
        Header(
            alias=CART_ID_HEADER,
            pattern=CART_ID_PATTERN,
            description="Anonymous shoppers: the cart id the server issued (a UUID). With a "
            "bearer token: an anonymous cart to merge into the user's cart.",
        ),
    ] = None,
) -> Shopper:
    return Shopper(
        shop=shop,
        user_id=user.user_id if user else None,
        cart_id=x_cart_id.lower() if x_cart_id else None,
    )


async def _writer(shopper: Annotated[Shopper, Depends(_shopper)]) -> Shopper:
    """An anonymous write without X-Cart-Id starts a new cart: issue its id."""
    if shopper.user_id is None and shopper.cart_id is None:
        return Shopper(shop=shopper.shop, cart_id=str(uuid.uuid4()))
    return shopper


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=1024,
            description="The ETag of the cart you read; the write fails with 412 if it changed.",
        ),
    ] = None,
) -> IfMatch | None:
    return IfMatch.parse(if_match)


async def trace_of(request: Request) -> list[tuple[bytes, bytes]]:
    """The request id and trace context, passed on to catalog."""
    state = request.scope.get("state", {})
    return [
        (name.encode(), state[key].encode())
        for name, key in (("x-request-id", "request_id"), ("traceparent", "traceparent"))
        if state.get(key)
    ]


CartsDep = Annotated[Carts, Depends(_carts)]
CheckoutDep = Annotated[CheckoutHooks, Depends(_checkout)]
Reader = Annotated[Shopper, Depends(_shopper)]
Writer = Annotated[Shopper, Depends(_writer)]
IfMatchDep = Annotated[IfMatch | None, Depends(_if_match)]
Trace = Annotated[list[tuple[bytes, bytes]], Depends(trace_of)]
