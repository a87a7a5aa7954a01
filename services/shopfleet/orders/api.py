"""Orders' HTTP routes: thin wrappers that validate input and call `service`.

Public routes live under the shop's API prefix; the order summary for payments lives under
`/internal/shops/{shop}/...` (service invocation only, never routed by the gateway).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Response, status

from shopfleet.kit.auth import SHOP_API_PREFIX, CurrentUser, OwnerOrAdmin, ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.orders import (
    ORDER_SUMMARY_PATH,
    OrderStatus,
    OrderSummary,
)
from shopfleet.orders.deps import OrdersDep
from shopfleet.orders.models import (
    IDEMPOTENCY_KEY_PATTERN,
    CancelRequest,
    OrderCreate,
    OrderPublic,
    OrdersPage,
    OrderUpdate,
)

OrderId = Annotated[ids.OrderId, Path(description="The order's id.")]

router = APIRouter(prefix=SHOP_API_PREFIX, tags=["orders"])
internal = APIRouter(tags=["internal"])


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The order this Idempotency-Key already placed."}},
)
async def place_order(
    shop: ShopId,
    body: OrderCreate,
    user: CurrentUser,
    orders: OrdersDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Any unique string (e.g. a UUID): retrying with it answers the "
            "order it placed instead of placing another.",
        ),
    ] = None,
) -> OrderPublic:
    """Place an order from your cart: catalog's prices, stock reserved, shipping quoted.

    The order awaits payment (`pending_payment`) and is cancelled if not paid in time
    (`expires_at`). The cart empties of the ordered lines.
    """
    order, created = await orders.place(shop, user, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{SHOP_API_PREFIX.replace('{shop}', shop)}/orders/{order.id}"
    return order


@router.get("/orders")
async def list_orders(
    shop: ShopId,
    user: OwnerOrAdmin,
    orders: OrdersDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this status.")] = None,
    user_filter: Annotated[
        ids.UserRef | None, Query(alias="user", description="Admins: only this user's orders.")
    ] = None,
) -> OrdersPage:
    """Your orders, newest first (admins: every order of the shop)."""
    return await orders.list_orders(
        shop, user, limit=limit, cursor=cursor, status=status, user=user_filter
    )


@router.get("/orders/{order_id}", response_model=OrderPublic)
async def read_order(
    shop: ShopId, order_id: OrderId, user: OwnerOrAdmin, orders: OrdersDep
) -> Response:
    """One order with its lines, totals, address and status history."""
    # The checkout polls this until paid: JSON straight from the rows (order_reads.py).
    answer = await orders.read_json(shop, user, order_id)
    return Response(answer, media_type="application/json")


@router.patch("/orders/{order_id}")
async def update_order(
    shop: ShopId, order_id: OrderId, body: OrderUpdate, user: OwnerOrAdmin, orders: OrdersDep
) -> OrderPublic:
    """Change the shipping address and/or method while the order awaits payment; it is
    re-quoted and its total changes. Create the PaymentIntent after the last change."""
    return await orders.update(shop, user, order_id, body)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    shop: ShopId,
    order_id: OrderId,
    user: OwnerOrAdmin,
    orders: OrdersDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderPublic:
    """Cancel the order: its stock is released, a payment is refunded in full. A shopper
    may cancel until the order ships; a shop admin at any time."""
    return await orders.cancel(shop, user, order_id, body.reason if body else None)


@internal.get(ORDER_SUMMARY_PATH)
async def order_summary(shop: ShopId, order_id: OrderId, orders: OrdersDep) -> OrderSummary:
    """What payments needs to charge the order (404 if there is no such order)."""
    return await orders.summary(shop, order_id)
