"""Every topic, its payload and its owner: only the owner publishes it (`Outbox.add` checks).

A topic is a `Topic` (kit/contracts/topics.py), a `str` of its wire name carrying its
payload model and owner; `TOPICS` lists them all by wire name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.contracts.topics import EventPayload, Topic, topic_registry
from shopfleet.kit.money import Money

# ----------------------------------------------------------------------------- identity


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


USER_REGISTERED = Topic("user.registered", UserRegistered, owner="identity")
SHOP_CREATED = Topic("shop.created", ShopCreated, owner="identity")  # tenant bootstrap


# ----------------------------------------------------------------------------- categories
# Projections must tolerate redelivery and reordering: apply an event only if its
# `version` is newer than what they hold for that id.


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


CATEGORY_UPDATED = Topic("category.updated", CategoryUpdated, owner="categories")  # or created
CATEGORY_DELETED = Topic("category.deleted", CategoryDeleted, owner="categories")


# ----------------------------------------------------------------------------- catalog


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


# created, changed, restocked
PRODUCT_UPDATED = Topic("product.updated", ProductUpdated, owner="catalog")
PRODUCT_DELETED = Topic("product.deleted", ProductDeleted, owner="catalog")  # soft delete
STOCK_LOW = Topic("stock.low", StockLow, owner="catalog")


# ----------------------------------------------------------------------------- orders
# The checkout saga (DESIGN §6). Every payload names the order's shopper (`user_id`), so
# that cart and notifications can act for them without calling orders back.


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


# cart empties the ordered lines
ORDER_PLACED = Topic("order.placed", OrderPlaced, owner="orders")
# shipping creates the shipment
ORDER_PAID = Topic("order.paid", OrderPaid, owner="orders")
# payments refunds or voids; cart keeps the lines to restore; also sent when a declined
# payment ends the order
ORDER_CANCELLED = Topic("order.cancelled", OrderCancelled, owner="orders")
# every transition
ORDER_STATUS_CHANGED = Topic("order.status_changed", OrderStatusChanged, owner="orders")


# ----------------------------------------------------------------------------- payments


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


# from Stripe's webhook or the reconciler
PAYMENT_SUCCEEDED = Topic("payment.succeeded", PaymentSucceeded, owner="payments")
# declined, or an error Stripe reports
PAYMENT_FAILED = Topic("payment.failed", PaymentFailed, owner="payments")
# each refund, full or partial
PAYMENT_REFUNDED = Topic("payment.refunded", PaymentRefunded, owner="payments")


# ----------------------------------------------------------------------------- shipping

ShipmentStatus = Literal[
    "pending", "packed", "shipped", "in_transit", "delivered", "returned", "cancelled"
]


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


# on order.paid, or by an admin
SHIPMENT_CREATED = Topic("shipment.created", ShipmentCreated, owner="shipping")
# orders follows: shipped -> shipped, delivered -> delivered
SHIPMENT_STATUS_CHANGED = Topic("shipment.status_changed", ShipmentStatusChanged, owner="shipping")


TOPICS: Mapping[str, Topic[Any]] = topic_registry(
    USER_REGISTERED,
    SHOP_CREATED,
    CATEGORY_UPDATED,
    CATEGORY_DELETED,
    PRODUCT_UPDATED,
    PRODUCT_DELETED,
    STOCK_LOW,
    ORDER_PLACED,
    ORDER_PAID,
    ORDER_CANCELLED,
    ORDER_STATUS_CHANGED,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    SHIPMENT_CREATED,
    SHIPMENT_STATUS_CHANGED,
)
