"""`GET /orders/{id}` on the fast read path: the answer is JSON built from the rows.

The order and its history are two Core statements with bind parameters, compiled once and
run by the kit's `FastReader` in one trip (the order first: a transition writes the row and
its history row in one transaction, so the history read after it holds the status the row
shows; a foreign order's history is read but never shown). No
`OrderRecord`, no `OrderPublic` validated again: the bytes are the ones `OrderPublic`
serializes to (key order, `Z` for UTC, nulls), held to them by
`tests/integration/orders/test_order_reads.py`.

The JSON columns (lines, shipping method, address) were written as their models dump them;
a value whose keys are not the model's own (a row written before a field was added) goes
through the model once, as the ORM path would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter

from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.db import NamedRow
from shopfleet.kit.money import Money
from shopfleet.kit.reads import FastReader
from shopfleet.orders.domain.access import Caller, check_visible
from shopfleet.orders.domain.order import OrderLine, ShippingChoice, Status
from shopfleet.orders.models import HISTORY, ORDERS

orders, history = ORDERS.c, HISTORY.c

_ORDER_COLUMNS = (
    orders.id,
    orders.user_id,
    orders.status,
    orders.currency,
    orders.lines,
    orders.subtotal_amount,
    orders.shipping_amount,
    orders.total_amount,
    orders.refunded_amount,
    orders.shipping_method,
    orders.shipping_address,
    orders.payment_id,
    orders.cancel_reason,
    orders.created_at,
    orders.updated_at,
    orders.expires_at,
    orders.paid_at,
)
_HISTORY_COLUMNS = (
    history.status,
    history.previous,
    history.cause,
    history.actor,
    history.note,
    history.at,
)
_JSON = orjson.OPT_UTC_Z  # pydantic writes an aware UTC datetime with `Z`, as this does


def order_statement(_key: object) -> sa.Select[Any]:
    """The order's shown columns (bind parameters `shop`, `order_id`)."""
    by_id = (orders.shop == sa.bindparam("shop"), orders.id == sa.bindparam("order_id"))
    return sa.select(*_ORDER_COLUMNS).where(*by_id)


def history_statement(_key: object) -> sa.Select[Any]:
    """The order's history, oldest first (bind parameters `shop`, `order_id`)."""
    by_order = (history.shop == sa.bindparam("shop"), history.order_id == sa.bindparam("order_id"))
    return sa.select(*_HISTORY_COLUMNS).where(*by_order).order_by(history.id)


class _AsStored:
    """A JSON column's value as its model dumps it: as stored when its keys are the
    model's (its `Money` fields' too), else through the model."""

    def __init__(self, model: type[BaseModel], money: tuple[str, ...] = ()) -> None:
        self.keys, self.money = list(model.model_fields), money
        self.adapter: TypeAdapter[Any] = TypeAdapter(model)

    def __call__(self, value: Any) -> Any:
        if (
            isinstance(value, dict)
            and list(value) == self.keys
            and all(isinstance(value[n], dict) and list(value[n]) == _MONEY for n in self.money)
        ):
            return value
        return self.adapter.dump_python(self.adapter.validate_python(value), mode="json")


_MONEY = list(Money.model_fields)
_line = _AsStored(OrderLine, ("unit_price", "line_total"))
_method = _AsStored(ShippingChoice, ("cost",))
_address = _AsStored(Address)


def _amount(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def order_json(order: NamedRow, entries: Sequence[NamedRow]) -> bytes:
    """`OrderPublic` of the order's row and its history rows, as JSON."""
    currency = order["currency"]
    answer = {
        "id": order["id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "lines": [_line(line) for line in order["lines"]],
        "subtotal": _amount(order["subtotal_amount"], currency),
        "shipping": _amount(order["shipping_amount"], currency),
        "total": _amount(order["total_amount"], currency),
        "refunded": _amount(order["refunded_amount"], currency),
        "shipping_method": _method(order["shipping_method"]),
        "shipping_address": _address(order["shipping_address"]),
        "payment_id": order["payment_id"],
        "cancel_reason": order["cancel_reason"],
        "placed_at": order["created_at"],
        "updated_at": order["updated_at"],
        "expires_at": order["expires_at"],
        "paid_at": order["paid_at"],
        "history": [
            {
                "status": entry["status"],
                "previous": entry["previous"],
                "cause": entry["cause"],
                "actor": entry["actor"],
                "note": entry["note"],
                "at": entry["at"],
            }
            for entry in entries
        ],
    }
    return orjson.dumps(answer, option=_JSON)


async def read_order(reader: FastReader, shop: str, order_id: str, caller: Caller) -> bytes:
    """The order as `caller` may read it (their own; any for an admin), else `OrderNotFound`;
    an order still being placed is never shown."""
    values = {"shop": shop, "order_id": order_id}
    rows, entries = await reader.many(
        ("public order", order_statement, values), ("public history", history_statement, values)
    )
    order = rows[0] if rows and rows[0]["status"] != Status.PLACING else None
    check_visible(None if order is None else order["user_id"], caller, order_id)
    assert order is not None  # check_visible refused otherwise
    return order_json(order, entries)
