"""Orders' contract: what payments needs to know of an order to charge it.

Served by orders under `/internal/shops/{shop}/...` for service invocation only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

# Re-exported for orders/service.py until its restructuring lands; new code imports `ids`.
from shopfleet.kit.contracts.ids import ORDER_ID_PATTERN as ORDER_ID_PATTERN
from shopfleet.kit.money import Money

ORDER_SUMMARY_PATH = "/internal/shops/{shop}/orders/{order_id}"  # GET -> OrderSummary, 404

OrderStatus = Literal[
    "pending_payment",
    "paid",
    "fulfilling",
    "shipped",
    "delivered",
    "cancelled",
    "payment_failed",
    "refunded",
]
# May a payment still be taken? Only while the order waits for one.
PAYABLE_STATUSES: frozenset[str] = frozenset({"pending_payment"})


class OrderSummary(BaseModel):
    order_id: str
    user_id: str
    status: OrderStatus
    total: Money
    placed_at: datetime
    expires_at: datetime | None  # when an unpaid order is cancelled by expiry
