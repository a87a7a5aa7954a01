"""Orders' tables and the schema families of its API.

Tables: `orders` (one row per order: its price snapshot, shipping choice and address, the
state of its stock reservation at catalog, its idempotency key) and `order_history` (one
row per transition or notable event: time, status, cause, actor).

An order row first exists in the internal status `placing` (stock not yet reserved, never
shown to anyone); it becomes `pending_payment` in the transaction that emits
`order.placed`. Input models forbid unknown fields, so a typo is a 422 naming the field.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.kit.money import Money
from shopfleet.kit.text import Printable
from shopfleet.orders.domain.order import (
    OPEN_STATUSES,
    OrderLine,
    OrderRecord,
    ShippingChoice,
    Stock,
    public_status,
)

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # visible ASCII, as in the IETF draft
MAX_REASON = 500
# One version of a shopper's cart is one open order: the partial unique index's condition.
_OPEN_LISTED = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
OPEN_CART = sa.text(f"status IN ({_OPEN_LISTED})")


def new_id() -> str:
    return str(uuid.uuid4())


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


# ----------------------------------------------------------------------------- tables


class OrdersModel(SQLModel, registry=registry()):
    """Orders' own metadata: services share one process in the embedded platform."""


class Order(OrdersModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # The same key by the same shopper names one order, however many requests race.
        sa.UniqueConstraint("shop", "user_id", "idempotency_key", name="uq_orders_idempotency"),
        sa.Index("ix_orders_shop_created", "shop", "created_at", "id"),
        sa.Index("ix_orders_shop_user_created", "shop", "user_id", "created_at", "id"),
        sa.Index("ix_orders_status_expires", "status", "expires_at"),
        sa.Index("ix_orders_stock_updated", "stock", "updated_at"),
        # One version of a shopper's cart is one open order (domain/checkout.py: may_place).
        sa.Index(
            "uq_orders_open_cart",
            "shop",
            "user_id",
            "cart_version",
            unique=True,
            postgresql_where=OPEN_CART,
            sqlite_where=OPEN_CART,
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    user_id: str = Field(max_length=255)
    status: str = Field(max_length=20)
    stock: str = Field(default=Stock.NONE.value, max_length=20)
    currency: str = Field(max_length=3)
    subtotal_amount: int = Field(sa_type=sa.BigInteger)
    shipping_amount: int = Field(sa_type=sa.BigInteger)
    total_amount: int = Field(sa_type=sa.BigInteger)
    refunded_amount: int = Field(default=0, sa_type=sa.BigInteger)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    shipping_method_id: str = Field(max_length=64)
    shipping_method: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    shipping_address: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)
    cart_version: str | None = Field(default=None, max_length=64)
    payment_id: str | None = Field(default=None, max_length=255)
    cancel_reason: str | None = Field(default=None, max_length=MAX_REASON)
    cancel_cause: str | None = Field(default=None, max_length=20)
    version: int = Field(default=1, sa_type=sa.BigInteger)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderHistory(OrdersModel, table=True):
    __tablename__ = "order_history"
    __table_args__ = (sa.Index("ix_order_history_order", "shop", "order_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop: str = Field(max_length=40)
    order_id: str = Field(max_length=36)
    status: str = Field(max_length=20)
    previous: str | None = Field(default=None, max_length=20)
    cause: str = Field(max_length=64)
    actor: str = Field(max_length=255)
    note: str | None = Field(default=None, max_length=MAX_REASON)
    at: datetime = _timestamp()


TABLES = [Order, OrderHistory]
# The same tables as Core sees them (the store's statements select columns, not objects).
ORDERS: sa.Table = OrdersModel.metadata.tables["orders"]
HISTORY: sa.Table = OrdersModel.metadata.tables["order_history"]

# ----------------------------------------------------------------------------- input

Reason = Annotated[str, pydantic.Field(min_length=1, max_length=MAX_REASON), Printable]
MethodId = Annotated[
    ids.ShippingMethodId,
    pydantic.Field(
        description="A shipping method's id (see GET /shipping/methods).",
        examples=["standard"],
    ),
]
AddressId = Annotated[ids.AddressId, pydantic.Field(description="One of your saved addresses.")]


class OrderCreate(BaseModel):
    """Check out the cart: ship with `shipping_method` to a saved address or a new one."""

    model_config = ConfigDict(extra="forbid")

    shipping_method: MethodId
    shipping_address_id: AddressId | None = None
    shipping_address: Address | None = None

    @model_validator(mode="after")
    def _one_address(self) -> OrderCreate:
        if (self.shipping_address_id is None) == (self.shipping_address is None):
            raise ValueError("send either shipping_address_id or shipping_address (exactly one)")
        return self


class OrderUpdate(BaseModel):
    """While the order is unpaid: change its address and/or method; it is re-quoted."""

    model_config = ConfigDict(extra="forbid")

    shipping_method: MethodId | None = None
    shipping_address_id: AddressId | None = None
    shipping_address: Address | None = None

    @model_validator(mode="after")
    def _something(self) -> OrderUpdate:
        if self.shipping_address_id is not None and self.shipping_address is not None:
            raise ValueError("send shipping_address_id or shipping_address, not both")
        if self.model_dump(exclude_none=True) == {}:
            raise ValueError(
                "send shipping_method, shipping_address_id or shipping_address to change"
            )
        return self


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


# ----------------------------------------------------------------------------- output


class HistoryEntry(BaseModel):
    status: OrderStatus
    previous: OrderStatus | None
    cause: str = pydantic.Field(description="e.g. placed, payment.succeeded, user, expired.")
    actor: str = pydantic.Field(description="A user id, or 'system' for the platform.")
    note: str | None
    at: datetime


class OrderPublic(BaseModel):
    id: str
    user_id: str
    status: OrderStatus
    lines: list[OrderLine]
    subtotal: Money = pydantic.Field(description="The lines' total (prices are tax-free).")
    shipping: Money
    total: Money = pydantic.Field(description="Subtotal plus shipping: what is charged.")
    refunded: Money
    shipping_method: ShippingChoice
    shipping_address: Address
    payment_id: str | None
    cancel_reason: str | None
    placed_at: datetime
    updated_at: datetime
    expires_at: datetime | None = pydantic.Field(
        description="While unpaid: when the order is cancelled unless paid."
    )
    paid_at: datetime | None
    history: list[HistoryEntry]

    @classmethod
    def of(cls, order: OrderRecord, history: list[HistoryEntry]) -> OrderPublic:
        return cls(
            id=order.id,
            user_id=order.user_id,
            status=public_status(order.status),
            lines=list(order.lines),
            subtotal=order.money(order.subtotal_amount),
            shipping=order.money(order.shipping_amount),
            total=order.total,
            refunded=order.money(order.refunded_amount),
            shipping_method=order.shipping_method,
            shipping_address=order.shipping_address,
            payment_id=order.payment_id,
            cancel_reason=order.cancel_reason,
            placed_at=order.created_at,
            updated_at=order.updated_at,
            expires_at=order.expires_at,
            paid_at=order.paid_at,
            history=history,
        )


class OrderListItem(BaseModel):
    id: str
    user_id: str
    status: OrderStatus
    total: Money
    item_count: int = pydantic.Field(description="Units in the order.")
    placed_at: datetime
    updated_at: datetime


class OrdersPage(BaseModel):
    items: list[OrderListItem]
    next_cursor: str | None = pydantic.Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
