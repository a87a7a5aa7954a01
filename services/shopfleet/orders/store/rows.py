"""Orders' rows as typed records, and the statements the fast read path compiles once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from shopfleet.kit.contracts.shipping import Address
from shopfleet.orders.domain.order import (
    Cause,
    OrderLine,
    OrderRecord,
    ShippingChoice,
    Status,
    Stock,
)
from shopfleet.orders.models import HISTORY, ORDERS

orders, history = ORDERS.c, HISTORY.c


class FastRead(StrEnum):
    """The statements the fast read path compiles once (the key is their name)."""

    ORDER = "order"
    HEADLINE = "headline"  # what payments reads: no lines, no addresses
    HISTORY = "history"
    STOCK = "stock"  # what catalog must still be told (`stock.py`)


HEADLINE_COLUMNS = (
    orders.id,
    orders.user_id,
    orders.status,
    orders.currency,
    orders.total_amount,
    orders.created_at,
    orders.expires_at,
)


def statement(which: FastRead) -> sa.Select[Any]:
    """`which` with bind parameters `shop` and `order_id` (history: oldest first)."""
    shop: sa.BindParameter[Any] = sa.bindparam("shop")
    order_id: sa.BindParameter[Any] = sa.bindparam("order_id")
    if which is FastRead.HISTORY:
        by_order = (history.shop == shop, history.order_id == order_id)
        return sa.select(HISTORY).where(*by_order).order_by(history.id)
    if which is FastRead.STOCK:
        return sa.select(orders.stock).where(orders.shop == shop, orders.id == order_id)
    columns = HEADLINE_COLUMNS if which is FastRead.HEADLINE else tuple(ORDERS.c)
    return sa.select(*columns).where(orders.shop == shop, orders.id == order_id)


def record_of(row: Mapping[Any, Any]) -> OrderRecord:
    cause = row["cancel_cause"]
    return OrderRecord(
        id=row["id"],
        shop=row["shop"],
        user_id=row["user_id"],
        status=Status(row["status"]),
        stock=Stock(row["stock"]),
        currency=row["currency"],
        subtotal_amount=row["subtotal_amount"],
        shipping_amount=row["shipping_amount"],
        total_amount=row["total_amount"],
        refunded_amount=row["refunded_amount"],
        lines=tuple(OrderLine.model_validate(line) for line in row["lines"]),
        shipping_method_id=row["shipping_method_id"],
        shipping_method=ShippingChoice.model_validate(row["shipping_method"]),
        shipping_address=Address.model_validate(row["shipping_address"]),
        request_hash=row["request_hash"],
        payment_id=row["payment_id"],
        cancel_reason=row["cancel_reason"],
        cancel_cause=Cause(cause) if cause else None,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        paid_at=row["paid_at"],
    )


def placed(rows: Sequence[Mapping[Any, Any]]) -> OrderRecord | None:
    """The order among `rows` (0 or 1), unless it is still being placed (never shown)."""
    found = [record_of(row) for row in rows]
    return found[0] if found and found[0].status != Status.PLACING else None
