"""What one shopper may hold open at once (issue 12, hole 8): one open order per version of
the cart, and at most `max_unpaid_orders` orders awaiting payment. Otherwise N parallel
POST /orders turn one cart into N orders, and unpaid orders hold a shop's stock unbounded.

Both rules are decided in the transaction that inserts the `placing` row, under a lock per
shopper: PostgreSQL's transaction-scoped advisory lock; on SQLite, `BEGIN IMMEDIATE`
already serializes writers. The partial unique index `uq_orders_open_cart` backs the cart
rule in the database itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.cart import CartLines
from shopfleet.kit.errors import Conflict
from shopfleet.orders.clients import RETRY_AFTER_S
from shopfleet.orders.models import OPEN_STATUSES, ORDERS, PLACING


def cart_version(cart: CartLines) -> str | None:
    """The cart as it was read: its ETag and its lines (a store whose ETags restart when a
    key is re-created cannot make two different carts look alike). None: no version."""
    if cart.version is None:
        return None
    lines = sorted((line.product_id, line.quantity) for line in cart.lines)
    return hashlib.sha256(orjson.dumps([cart.version, lines])).hexdigest()


async def lock_shopper(session: AsyncSession, shop: str, user_id: str) -> None:
    """Serialize placings of one shopper until the transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the writing transaction holds the database's write lock already
    digest = hashlib.sha256(f"orders.place:{shop}:{user_id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def open_orders(session: AsyncSession, shop: str, user_id: str) -> Sequence[Any]:
    c = ORDERS.c
    query = sa.select(c.id, c.status, c.cart_version, c.idempotency_key).where(
        c.shop == shop, c.user_id == user_id, c.status.in_(OPEN_STATUSES)
    )
    return (await session.execute(query.order_by(c.created_at, c.id))).all()


def cart_already_ordered(order_id: str, status: str) -> Conflict:
    being = "is being placed" if status == PLACING else "awaits payment"
    return Conflict(
        f"Your cart, as it is now, is already ordered: order {order_id} {being}. Pay or "
        "cancel that order; to order something else, change your cart first.",
        slug="cart-already-ordered",
        order_id=order_id,
        headers={"Retry-After": str(RETRY_AFTER_S)} if status == PLACING else None,
    )


def check_open(open_now: Sequence[Any], version: str | None, cap: int) -> None:
    """Refuse a new placing from `version` of the cart if it is ordered already, or if the
    shopper has `cap` orders open."""
    for row in open_now:
        if version is not None and row.cart_version == version:
            raise cart_already_ordered(row.id, row.status)
    if len(open_now) >= cap:
        unpaid = [row.id for row in open_now if row.status != PLACING]
        raise Conflict(
            f"You have {len(open_now)} orders awaiting payment, the most this shop allows at "
            f"once ({cap}). Pay or cancel one of them (GET /orders?status=pending_payment) "
            "before placing another.",
            slug="too-many-unpaid-orders",
            open_orders=unpaid,
            limit=cap,
        )
