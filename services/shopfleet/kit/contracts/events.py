"""Every topic and its payload. A topic has one owner: only that service publishes it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.money import Money


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ----------------------------------------------------------------------------- identity

USER_REGISTERED = "user.registered"  # owner: identity
SHOP_CREATED = "shop.created"  # owner: identity (tenant bootstrap)


class UserRegistered(EventPayload):
    user_id: str
    email: str
    display_name: str
    roles: list[str]
    registered_at: datetime


class ShopCreated(EventPayload):
    shop: str
    display_name: str
    currency: str
    created_at: datetime


# ----------------------------------------------------------------------------- categories
# Projections must tolerate redelivery and reordering: apply an event only if its
# `version` is newer than what they hold for that id.

CATEGORY_UPDATED = "category.updated"  # owner: categories (created or changed)
CATEGORY_DELETED = "category.deleted"  # owner: categories


class CategoryUpdated(EventPayload):
    category_id: str
    parent_id: str | None
    slug: str
    name: str
    position: int
    version: int


class CategoryDeleted(EventPayload):
    category_id: str
    version: int


# ----------------------------------------------------------------------------- catalog

PRODUCT_UPDATED = "product.updated"  # owner: catalog (created, changed, restocked)
PRODUCT_DELETED = "product.deleted"  # owner: catalog (soft delete)
STOCK_LOW = "stock.low"  # owner: catalog


class ProductUpdated(EventPayload):
    product_id: str
    name: str
    slug: str
    sku: str
    price_amount: int
    currency: str
    active: bool
    category_ids: list[str]
    available: int  # on hand minus reserved
    created_at: datetime
    version: int


class ProductDeleted(EventPayload):
    product_id: str
    version: int


class StockLow(EventPayload):
    product_id: str
    available: int
    threshold: int


# ----------------------------------------------------------------------------- orders
# The checkout saga (DESIGN §6). Every payload names the order's shopper (`user_id`), so
# that cart and notifications can act for them without calling orders back.

ORDER_PLACED = "order.placed"  # owner: orders (cart empties the ordered lines)
ORDER_PAID = "order.paid"  # owner: orders (shipping creates the shipment)
ORDER_CANCELLED = "order.cancelled"  # owner: orders (payments refunds or voids; cart keeps
# the lines to restore); also sent when a declined payment ends the order
ORDER_STATUS_CHANGED = "order.status_changed"  # owner: orders (every transition)


class OrderLinePayload(EventPayload):
    product_id: str
    name: str
    sku: str
    quantity: int
    unit_price: Money


class OrderPlaced(EventPayload):
    order_id: str
    user_id: str
    lines: list[OrderLinePayload]
    subtotal: Money
    shipping: Money
    total: Money
    shipping_method_id: str
    placed_at: datetime


class OrderPaid(EventPayload):
    order_id: str
    user_id: str
    payment_id: str
    total: Money
    shipping_method_id: str
    shipping_address: Address
    lines: list[OrderLinePayload]
    paid_at: datetime


CancelCause = Literal["user", "admin", "expired", "payment_failed"]


class OrderCancelled(EventPayload):
    order_id: str
    user_id: str
    status: Literal["cancelled", "payment_failed"]
    cause: CancelCause
    reason: str
    was_paid: bool  # payments refunds in full when True, voids an open intent otherwise
    lines: list[OrderLinePayload]
    total: Money
    cancelled_at: datetime


class OrderStatusChanged(EventPayload):
    order_id: str
    user_id: str
    status: OrderStatus
    previous: OrderStatus | None
    cause: str  # e.g. "placed", "payment.succeeded", "shipment.shipped", "user", "expired"
    total: Money
    changed_at: datetime


# ----------------------------------------------------------------------------- payments

PAYMENT_SUCCEEDED = "payment.succeeded"  # owner: payments (from Stripe's webhook or the
# reconciler)
PAYMENT_FAILED = "payment.failed"  # owner: payments (declined, or an error Stripe reports)
PAYMENT_REFUNDED = "payment.refunded"  # owner: payments (each refund, full or partial)


class PaymentSucceeded(EventPayload):
    payment_id: str
    order_id: str
    user_id: str
    amount: Money
    provider_ref: str  # the Stripe PaymentIntent id
    succeeded_at: datetime


class PaymentFailed(EventPayload):
    payment_id: str
    order_id: str
    user_id: str
    amount: Money
    code: str  # e.g. "card_declined", "expired_card", "processing_error"
    message: str
    failed_at: datetime


class PaymentRefunded(EventPayload):
    payment_id: str
    order_id: str
    user_id: str
    refund_id: str
    amount: Money  # this refund
    refunded_total: Money  # all refunds of the payment so far
    full: bool  # refunded_total equals what was captured
    refunded_at: datetime


# ----------------------------------------------------------------------------- shipping

SHIPMENT_CREATED = "shipment.created"  # owner: shipping (on order.paid, or by an admin)
SHIPMENT_STATUS_CHANGED = "shipment.status_changed"  # owner: shipping (orders follows:
# shipped -> shipped, delivered -> delivered)

ShipmentStatus = Literal["pending", "packed", "shipped", "in_transit", "delivered", "returned",
                         "cancelled"]  # fmt: skip


class ShipmentCreated(EventPayload):
    shipment_id: str
    order_id: str
    user_id: str
    method_id: str
    created_at: datetime


class ShipmentStatusChanged(EventPayload):
    shipment_id: str
    order_id: str
    user_id: str
    status: ShipmentStatus
    previous: ShipmentStatus
    carrier: str | None
    tracking_number: str | None
    changed_at: datetime


TOPICS: dict[str, type[EventPayload]] = {
    USER_REGISTERED: UserRegistered,
    SHOP_CREATED: ShopCreated,
    CATEGORY_UPDATED: CategoryUpdated,
    CATEGORY_DELETED: CategoryDeleted,
    PRODUCT_UPDATED: ProductUpdated,
    PRODUCT_DELETED: ProductDeleted,
    STOCK_LOW: StockLow,
    ORDER_PLACED: OrderPlaced,
    ORDER_PAID: OrderPaid,
    ORDER_CANCELLED: OrderCancelled,
    ORDER_STATUS_CHANGED: OrderStatusChanged,
    PAYMENT_SUCCEEDED: PaymentSucceeded,
    PAYMENT_FAILED: PaymentFailed,
    PAYMENT_REFUNDED: PaymentRefunded,
    SHIPMENT_CREATED: ShipmentCreated,
    SHIPMENT_STATUS_CHANGED: ShipmentStatusChanged,
}
