"""Stock levels and reservations: admins set what is on hand, orders reserve, commit and
release, buyers see what is available (`on_hand - reserved`, of an active, live product).

A reservation takes all lines or none, atomically under concurrency, and is idempotent:
lines are taken in product-id order (no deadlock); if any is short, the lines already
taken roll back to a savepoint and the order's outcome is recorded as `rejected`; asking
again for the same order id answers the same outcome.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import domain, emit
from shopfleet.catalog.domain import ReservationStatus
from shopfleet.catalog.models import Reservation
from shopfleet.catalog.schemas import ProductPublic, product_public
from shopfleet.catalog.service.products import live_product
from shopfleet.catalog.store import products as product_store
from shopfleet.catalog.store import stock as store
from shopfleet.kit.contracts.catalog import (
    ReservationResult,
    ReserveRequest,
)
from shopfleet.kit.db import utcnow

log = structlog.get_logger("shopfleet.catalog.reservations")


async def set_stock(
    session: AsyncSession, shop: str, product_id: str, on_hand: int
) -> ProductPublic:
    product = await live_product(session, shop, product_id)  # locked until commit
    domain.check_on_hand(on_hand, product.reserved)
    if on_hand != product.on_hand:
        before = domain.available(product)
        product.on_hand = on_hand
        product.version += 1
        product.updated_at = utcnow()
        await emit.stock_changed(session, product, before)
        await session.commit()
    images = await product_store.images_of(session, product_id)
    return product_public(product, images, admin=True)


def _result(row: Reservation) -> ReservationResult:
    """The stored outcome as the contract says it (validated: the row's JSON is untyped)."""
    return ReservationResult.model_validate(
        {
            "order_id": row.order_id,
            "status": row.status,
            "lines": row.lines,
            "shortages": row.shortages,
        }
    )


def _answer_again(row: Reservation, wanted: list[tuple[str, int]]) -> ReservationResult:
    domain.check_same_lines(row.order_id, row.status, row.lines, wanted)
    return _result(row)


async def reserve(
    session: AsyncSession, shop: str, order_id: str, request: ReserveRequest
) -> ReservationResult:
    lines = [line.model_dump() for line in request.lines]
    wanted = domain.merged(lines)
    now = utcnow()
    row = Reservation(
        shop=shop,
        order_id=order_id,
        status=ReservationStatus.RESERVED.value,
        lines=lines,
        shortages=[],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same order id, reserved before or concurrently: its outcome
        await session.rollback()
        existing = await session.get(Reservation, (shop, order_id))
        if existing is None:
            raise
        return _answer_again(existing, wanted)

    taken: list[tuple[sa.Row[Any], int]] = []
    short: list[tuple[str, int]] = []
    # One line that is short took nothing: only several lines need a savepoint to undo.
    savepoint = await session.begin_nested() if len(wanted) > 1 else None
    for product_id, quantity in wanted:
        changed = await store.reserve_line(session, shop, product_id, quantity, now)
        if changed is None:
            short.append((product_id, quantity))
        else:
            taken.append((changed, quantity))
    if short:
        if savepoint is not None:
            await savepoint.rollback()
        row.status = ReservationStatus.REJECTED.value
        products = await store.products_now(session, shop, [pid for pid, _ in short])
        now_available = {product.id: domain.available(product) for product in products}
        row.shortages = domain.shortages(short, now_available)
    else:
        if savepoint is not None:
            await savepoint.commit()
        for product, quantity in taken:
            await _stock_changed(session, product, domain.RESERVE, quantity)
    await session.commit()
    return _result(row)


async def _locked(session: AsyncSession, shop: str, order_id: str) -> Reservation:
    row = await store.locked_reservation(session, shop, order_id)
    if row is None:
        raise domain.ReservationNotFound(f"No reservation for order '{order_id}' in shop '{shop}'.")
    return row


async def commit(session: AsyncSession, shop: str, order_id: str) -> ReservationResult:
    """The order is paid: its reserved units leave the stock (on hand and reserved drop)."""
    row = await _locked(session, shop, order_id)
    move = domain.decide_commit(order_id, ReservationStatus(row.status))
    if move is not None:
        await _apply(session, shop, row, move)
        row.status, row.updated_at = ReservationStatus.COMMITTED.value, utcnow()
        await session.commit()
    return _result(row)


async def release(session: AsyncSession, shop: str, order_id: str) -> ReservationResult:
    """The order is cancelled: its units are for sale again.

    Orders asks for this only while the goods are still in the warehouse: what was shipped
    comes back as a return, restocked by hand.
    """
    row = await _locked(session, shop, order_id)
    move = domain.decide_release(ReservationStatus(row.status))
    if move is not None:
        await _apply(session, shop, row, move)
        row.status, row.updated_at = ReservationStatus.RELEASED.value, utcnow()
        await session.commit()
    return _result(row)


async def _apply(
    session: AsyncSession, shop: str, row: Reservation, move: domain.StockMove
) -> None:
    """Move the reservation's lines; the caller sets its status and time (one UPDATE of the
    row at commit, not one flushed before the lines and another after)."""
    now = utcnow()
    for product_id, quantity in domain.merged(row.lines):
        product = await store.move_line(session, shop, product_id, quantity, move, now)
        if product is None:  # cannot happen while reservations are the only way to reserve
            log.error(
                "reservation exceeds reserved stock", order_id=row.order_id, product_id=product_id
            )
            continue
        await _stock_changed(session, product, move, quantity)


async def _stock_changed(
    session: AsyncSession, product: sa.Row[Any], move: domain.StockMove, quantity: int
) -> None:
    before = move.available_before(domain.available(product), quantity)
    await emit.stock_changed(session, product, before=before)
