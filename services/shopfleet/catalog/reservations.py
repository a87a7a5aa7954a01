"""Stock reservations for orders: all lines or none, atomic under concurrency, idempotent.

Each line is one conditional UPDATE (`on_hand - reserved >= quantity`), so two orders
racing for the last units cannot both get them: on PostgreSQL the second UPDATE waits for
the first and re-checks the condition; on SQLite writers take turns. Lines are taken in
product-id order, so two orders never wait on each other's rows (no deadlock). If any
line is short, the lines already taken roll back to a savepoint and the order's outcome
is recorded as `rejected`; asking again for the same order id answers the same outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog import emit
from shopfleet.catalog.models import Product, Reservation
from shopfleet.kit.contracts.catalog import (
    ReservationLine,
    ReservationResult,
    ReservationShortage,
    ReserveRequest,
)
from shopfleet.kit.db import utcnow
from shopfleet.kit.errors import Conflict, NotFound

log = structlog.get_logger("shopfleet.catalog.reservations")
PRODUCTS: sa.Table = Product.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = [
    PRODUCTS.c[name]
    for name in (
        "id",
        "shop",
        "name",
        "slug",
        "sku",
        "price_amount",
        "currency",
        "active",
        "category_ids",
        "on_hand",
        "reserved",
        "low_stock_threshold",
        "created_at",
        "deleted_at",
        "version",
    )
]


def _merged(lines: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Quantities per product, in product-id order (the order rows are locked in)."""
    total: Counter[str] = Counter()
    for line in lines:
        total[line["product_id"]] += line["quantity"]
    return sorted(total.items())


def _result(row: Reservation) -> ReservationResult:
    return ReservationResult(
        order_id=row.order_id,
        status=row.status,  # type: ignore[arg-type]
        lines=[ReservationLine(**line) for line in row.lines],
        shortages=[ReservationShortage(**line) for line in row.shortages],
    )


def _answer_again(row: Reservation, lines: list[tuple[str, int]]) -> ReservationResult:
    if _merged(row.lines) != lines:
        raise Conflict(
            f"Order '{row.order_id}' already has a reservation ({row.status}) with other "
            "lines; an order id reserves once.",
            slug="reservation-mismatch",
        )
    return _result(row)


def _stock_update(shop: str, product_id: str) -> Any:
    return (
        sa.update(PRODUCTS)
        .where(PRODUCTS.c.id == product_id, PRODUCTS.c.shop == shop)
        .returning(*_EVENT_COLUMNS)
    )


async def reserve(
    session: AsyncSession, shop: str, order_id: str, request: ReserveRequest
) -> ReservationResult:
    lines = [line.model_dump() for line in request.lines]
    wanted = _merged(lines)
    existing = await session.get(Reservation, (shop, order_id))
    if existing is not None:
        return _answer_again(existing, wanted)
    now = utcnow()
    row = Reservation(
        shop=shop,
        order_id=order_id,
        status="reserved",
        lines=lines,
        shortages=[],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same order id, reserved concurrently: answer its outcome
        await session.rollback()
        existing = await session.get(Reservation, (shop, order_id))
        if existing is None:
            raise
        return _answer_again(existing, wanted)

    taken: list[tuple[Any, int]] = []
    short: list[tuple[str, int]] = []
    savepoint = await session.begin_nested()
    for product_id, quantity in wanted:
        update = _stock_update(shop, product_id).where(
            PRODUCTS.c.deleted_at.is_(None),
            PRODUCTS.c.active.is_(True),
            PRODUCTS.c.on_hand - PRODUCTS.c.reserved >= quantity,
        )
        values = {
            "reserved": PRODUCTS.c.reserved + quantity,
            "version": PRODUCTS.c.version + 1,
            "updated_at": now,
        }
        changed = (await session.execute(update.values(values))).first()
        if changed is None:
            short.append((product_id, quantity))
        else:
            taken.append((changed, quantity))
    if short:
        await savepoint.rollback()
        row.status = "rejected"
        row.shortages = await _shortages(session, shop, short)
    else:
        await savepoint.commit()
        for product, quantity in taken:
            await emit.stock_changed(session, product, before=emit.available(product) + quantity)
    await session.commit()
    return _result(row)


async def _shortages(
    session: AsyncSession, shop: str, short: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Per short line: what was asked and what is available now."""
    rows = (
        await session.execute(
            sa.select(*_EVENT_COLUMNS).where(
                PRODUCTS.c.shop == shop, PRODUCTS.c.id.in_([pid for pid, _ in short])
            )
        )
    ).all()
    available = {row.id: emit.available(row) for row in rows}
    return [
        {"product_id": pid, "requested": quantity, "available": available.get(pid, 0)}
        for pid, quantity in short
    ]


async def _locked(session: AsyncSession, shop: str, order_id: str) -> Reservation:
    row = await session.scalar(
        sa.select(Reservation)
        .where(col(Reservation.shop) == shop, col(Reservation.order_id) == order_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"No reservation for order '{order_id}' in shop '{shop}'.")
    return row


async def commit(session: AsyncSession, shop: str, order_id: str) -> ReservationResult:
    """The order is paid: its reserved units leave the stock (on hand and reserved drop)."""
    row = await _locked(session, shop, order_id)
    if row.status == "committed":
        return _result(row)
    if row.status != "reserved":
        raise Conflict(
            f"The reservation of order '{order_id}' is {row.status}; only a reserved one can "
            "be committed.",
            slug=f"reservation-{row.status}",
        )
    await _apply(session, shop, row, on_hand=-1, reserved=-1)
    row.status = "committed"
    await session.commit()
    return _result(row)


async def release(session: AsyncSession, shop: str, order_id: str) -> ReservationResult:
    """The order is cancelled: its units are for sale again.

    A reserved order's units stop being reserved; a committed (paid, not yet shipped)
    order's units go back on hand. Orders asks for this only while the goods are still
    in the warehouse: what was shipped comes back as a return, restocked by hand.
    """
    row = await _locked(session, shop, order_id)
    if row.status in ("released", "rejected"):
        return _result(row)
    if row.status == "committed":
        await _apply(session, shop, row, on_hand=1, reserved=0)
    else:
        await _apply(session, shop, row, on_hand=0, reserved=-1)
    row.status = "released"
    await session.commit()
    return _result(row)


async def _apply(
    session: AsyncSession, shop: str, row: Reservation, *, on_hand: int, reserved: int
) -> None:
    now = utcnow()
    row.updated_at = now
    for product_id, quantity in _merged(row.lines):
        update = _stock_update(shop, product_id)
        if reserved < 0:
            update = update.where(PRODUCTS.c.reserved >= quantity)
        values = {
            "on_hand": PRODUCTS.c.on_hand + on_hand * quantity,
            "reserved": PRODUCTS.c.reserved + reserved * quantity,
            "version": PRODUCTS.c.version + 1,
            "updated_at": now,
        }
        product = (await session.execute(update.values(values))).first()
        if product is None:  # cannot happen while reservations are the only way to reserve
            log.error(
                "reservation exceeds reserved stock", order_id=row.order_id, product_id=product_id
            )
            continue
        before = emit.available(product) - (on_hand - reserved) * quantity
        await emit.stock_changed(session, product, before=before)
