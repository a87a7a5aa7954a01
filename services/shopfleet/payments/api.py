"""Payments' HTTP routes: thin wrappers that validate input and call `PaymentsService`."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response, status

from shopfleet.kit.auth import (
    PUBLIC,
    SHOP_API_PREFIX,
    AdminUser,
    OwnerOrAdmin,
    Principal,
    ShopId,
)
from shopfleet.kit.contracts import ids
from shopfleet.kit.cursors import PageEnd
from shopfleet.payments.deps import Payments
from shopfleet.payments.domain.payment import PaymentStatus
from shopfleet.payments.models import (
    ConfirmRequest,
    IntentCreate,
    PaymentDetail,
    PaymentPublic,
    PaymentsPage,
    RefundCreate,
    RefundPublic,
)
from shopfleet.payments.webhooks import handle_stripe_webhook

Shown = TypeVar("Shown", PaymentPublic, PaymentDetail)


def _as_seen_by(who: Principal, payment: Shown) -> Shown:
    """The client secret completes the payment (Stripe: for the customer only), so only
    the payer sees it; an Admin sees the payment without it."""
    if payment.user_id == who.user_id or payment.client_secret is None:
        return payment
    return payment.model_copy(update={"client_secret": None})


PaymentId = Annotated[ids.PaymentId, Path(description="The payment's id.")]

router = APIRouter(prefix=SHOP_API_PREFIX, tags=["payments"])


@router.post(
    "/payments/intents",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The order's payment exists already: it is returned."}},
)
async def create_intent(
    shop: ShopId, user: OwnerOrAdmin, body: IntentCreate, payments: Payments, response: Response
) -> PaymentDetail:
    """A Stripe PaymentIntent for one of your orders (amount and currency from the order).

    One per order: asking again returns the same payment."""
    payment, created = await payments.create_intent(shop, user, body.order_id, body.payment_method)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = (
        f"{SHOP_API_PREFIX.replace('{shop}', shop)}/payments/{payment.id}"
    )
    return _as_seen_by(user, payment)


@router.post("/payments/{payment_id}/confirm")
async def confirm(
    shop: ShopId,
    user: OwnerOrAdmin,
    payment_id: PaymentId,
    payments: Payments,
    body: ConfirmRequest | None = None,
) -> PaymentDetail:
    """Charge the payment method (given here, or when the intent was made).

    A declined card answers 402 and the payment is `failed`; when Stripe cannot be reached
    the answer is 502/503 and the payment stays `processing` until it is settled."""
    method = body.payment_method if body is not None else None
    return _as_seen_by(user, await payments.confirm(shop, user, payment_id, method))


@router.get("/payments/{payment_id}")
async def read_payment(
    shop: ShopId, user: OwnerOrAdmin, payment_id: PaymentId, payments: Payments
) -> PaymentDetail:
    return _as_seen_by(user, await payments.detail(shop, payment_id, user))


@router.get("/payments")
async def list_payments(
    shop: ShopId,
    user: OwnerOrAdmin,
    payments: Payments,
    order_id: Annotated[ids.OrderId | None, Query()] = None,
    status_: Annotated[PaymentStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PaymentsPage:
    """Your payments, newest first (admins: every payment of the shop)."""
    after = PageEnd.from_cursor(cursor) if cursor else None
    page = await payments.list_payments(
        shop, user, order_id=order_id, status=status_, limit=limit, after=after
    )
    return page.model_copy(update={"items": [_as_seen_by(user, p) for p in page.items]})


@router.post("/payments/{payment_id}/refunds", status_code=status.HTTP_201_CREATED)
async def refund(
    shop: ShopId,
    admin: AdminUser,
    payment_id: PaymentId,
    payments: Payments,
    body: RefundCreate | None = None,
) -> RefundPublic:
    """Admin: refund all that is left of a captured payment, or `amount` of it."""
    body = body or RefundCreate()
    return await payments.refund(shop, payment_id, body.amount, body.currency)


@router.post(
    "/payments/webhooks/stripe",
    responses={400: {"description": "Not signed with the shop's webhook secret."}},
    openapi_extra=PUBLIC,  # anyone may post; only the shop's signature makes it count
)
async def stripe_webhook(shop: ShopId, request: Request, payments: Payments) -> Response:
    """Stripe's events for this shop (signed with its webhook secret; no token)."""
    payload = await request.body()
    fresh = await handle_stripe_webhook(
        payments, shop, payload, request.headers.get("stripe-signature")
    )
    return Response(
        content=b'{"received":true,"duplicate":%s}' % (b"false" if fresh else b"true"),
        media_type="application/json",
    )
