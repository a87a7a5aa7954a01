"""Shipments: one per order, made when the order is paid (or by an admin), moved on by
admins, cancelled with their order while not yet shipped.

Exactly once per order: the (shop, order_id) unique constraint and an
INSERT … ON CONFLICT DO NOTHING make a second `order.paid` for the same order (a
redelivery under another event id, or a race of two consumers) create nothing, and only
the insert that happened emits `shipment.created`. Every status change emits
`shipment.status_changed` through the outbox, in the transaction of the change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts.events import (
    SHIPMENT_CREATED,
    SHIPMENT_STATUS_CHANGED,
    OrderCancelled,
    OrderLinePayload,
    OrderPaid,
    ShipmentCreated,
    ShipmentStatusChanged,
)
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import NamedRow, dialect_insert, utcnow
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.kit.outbox import Outbox
from shopfleet.shipping import methods, service
from shopfleet.shipping.models import (
    SHIPMENT_COLUMNS,
    CancelledOrder,
    Shipment,
    ShipmentCreate,
    ShipmentPublic,
    ShipmentsPage,
    ShipmentUpdate,
    new_id,
)

log = structlog.get_logger("shopfleet.shipping.shipments")

SHIPMENTS: sa.Table = Shipment.__table__  # type: ignore[attr-defined]
CANCELLED: sa.Table = CancelledOrder.__table__  # type: ignore[attr-defined]


def shipment_not_found(shipment_id: str) -> NotFound:
    return NotFound(f"No shipment '{shipment_id}' here.", slug="shipment-not-found")


def _public(row: NamedRow) -> ShipmentPublic:
    return ShipmentPublic.model_validate(dict(row))


def _entry(status: str, previous: str | None, at: datetime, cause: str, actor: str | None) -> dict:
    return {
        "status": status,
        "previous": previous,
        "at": at.isoformat(),
        "cause": cause,
        "actor": actor,
    }


# ----------------------------------------------------------------------------- reading


async def _find(
    session: AsyncSession, shop: str, shipment_id: str, *, lock: bool = False
) -> NamedRow | None:
    query = sa.select(*SHIPMENT_COLUMNS).where(
        SHIPMENTS.c.shop == shop, SHIPMENTS.c.id == shipment_id
    )
    return (await session.execute(query.with_for_update() if lock else query)).mappings().first()


async def get_shipment(
    session: AsyncSession, shop: str, shipment_id: str, principal: Principal
) -> ShipmentPublic:
    """A shipment; someone else's (unless an admin asks) is a 404."""
    row = await _find(session, shop, shipment_id)
    if row is None or not (principal.is_admin or row["user_id"] == principal.user_id):
        raise shipment_not_found(shipment_id)
    return _public(row)


def _bad_cursor() -> Problem:
    return field_problem(
        400,
        "query.cursor",
        "not a cursor of this listing: pass the next_cursor of the "
        "previous page unchanged, or omit it to start at the first page",
        slug="bad-cursor",
    )


def _after(cursor: str) -> sa.ColumnElement[bool]:
    try:
        stamp, last_id = unpack_cursor(cursor)
        created = datetime.fromisoformat(stamp).astimezone(UTC)
        if not isinstance(last_id, str):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, OverflowError):
        raise _bad_cursor() from None
    return sa.or_(
        SHIPMENTS.c.created_at < created,
        sa.and_(SHIPMENTS.c.created_at == created, SHIPMENTS.c.id < last_id),
    )


async def list_shipments(
    session: AsyncSession,
    shop: str,
    principal: Principal,
    *,
    status: str | None = None,
    order_id: str | None = None,
    user_id: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> ShipmentsPage:
    """Newest first. A shopper sees their own; an admin all, filtered by `user_id` if given."""
    query = sa.select(*SHIPMENT_COLUMNS).where(SHIPMENTS.c.shop == shop)
    if not principal.is_admin:
        query = query.where(SHIPMENTS.c.user_id == principal.user_id)
    elif user_id is not None:
        query = query.where(SHIPMENTS.c.user_id == user_id)
    if status is not None:
        query = query.where(SHIPMENTS.c.status == status)
    if order_id is not None:
        query = query.where(SHIPMENTS.c.order_id == order_id)
    if cursor:
        query = query.where(_after(cursor))
    query = query.order_by(SHIPMENTS.c.created_at.desc(), SHIPMENTS.c.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).mappings())
    items = [_public(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = pack_cursor([last.created_at.isoformat(), last.id])
    return ShipmentsPage(items=items, next_cursor=next_cursor)


# ----------------------------------------------------------------------------- creating


def _line(line: OrderLinePayload) -> dict[str, Any]:
    return {
        "product_id": line.product_id,
        "name": line.name[:200],
        "sku": line.sku[:64],
        "quantity": line.quantity,
    }


async def _insert(session: AsyncSession, shop: str, values: dict[str, Any]) -> bool:
    """Insert the shipment unless its order has one; True if this call inserted it."""
    stmt = dialect_insert(session, SHIPMENTS).values(values)
    result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["shop", "order_id"]))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await Outbox.add(
        session,
        SHIPMENT_CREATED,
        ShipmentCreated(
            shipment_id=values["id"],
            order_id=values["order_id"],
            user_id=values["user_id"],
            method_id=values["method_id"],
            created_at=values["created_at"],
        ),
        shop=shop,
    )
    return True


def _values(
    shop: str,
    *,
    order_id: str,
    user_id: str,
    method_id: str,
    carrier: str | None,
    tracking_number: str | None,
    address: Address,
    lines: list[dict[str, Any]],
    cause: str,
    actor: str | None,
) -> dict[str, Any]:
    now = utcnow()
    return dict(
        id=new_id(),
        shop=shop,
        order_id=order_id,
        user_id=user_id,
        method_id=method_id,
        status="pending",
        carrier=carrier,
        tracking_number=tracking_number,
        address=address.model_dump(mode="json"),
        lines=lines,
        history=[_entry("pending", None, now, cause, actor)],
        created_at=now,
        updated_at=now,
        version=1,
    )


async def create_for_paid_order(session: AsyncSession, shop: str, paid: OrderPaid) -> bool:
    """In the event handler's transaction: the order's shipment, unless it has one already
    or was cancelled before this (late) `order.paid` came. True if one was created."""
    tombstone = await session.scalar(
        sa.select(CANCELLED.c.order_id).where(
            CANCELLED.c.shop == shop, CANCELLED.c.order_id == paid.order_id
        )
    )
    if tombstone is not None:
        log.info("order.paid after order.cancelled: no shipment", shop=shop, order=paid.order_id)
        return False
    method = await methods.find(session, shop, paid.shipping_method_id)
    values = _values(
        shop,
        order_id=paid.order_id,
        user_id=paid.user_id,
        method_id=paid.shipping_method_id,
        carrier=method["carrier"] if method else None,
        tracking_number=None,
        address=paid.shipping_address,
        lines=[_line(line) for line in paid.lines],
        cause="order.paid",
        actor=None,
    )
    return await _insert(session, shop, values)


async def _existing_for_order(session: AsyncSession, shop: str, order_id: str) -> str | None:
    return await session.scalar(
        sa.select(SHIPMENTS.c.id).where(SHIPMENTS.c.shop == shop, SHIPMENTS.c.order_id == order_id)
    )


async def create_manual(
    session: AsyncSession, shop: str, body: ShipmentCreate, actor: str
) -> ShipmentPublic:
    """An admin's shipment for an order; 409 if the order has one."""
    method = await methods.find(session, shop, body.method_id)
    if method is None:
        raise field_problem(
            422,
            "body.method_id",
            f"no shipping method '{body.method_id}' in this shop; GET /shipping/methods lists them",
        )
    values = _values(
        shop,
        order_id=body.order_id,
        user_id=body.user_id,
        method_id=body.method_id,
        carrier=body.carrier or method["carrier"],
        tracking_number=body.tracking_number,
        address=body.address,
        lines=[line.model_dump() for line in body.lines],
        cause="admin",
        actor=actor,
    )
    if not await _insert(session, shop, values):
        await session.rollback()
        existing = await _existing_for_order(session, shop, body.order_id)
        raise Conflict(
            f"Order '{body.order_id}' has a shipment already ('{existing}'); change that one "
            "with PATCH /shipments/{id}.",
            slug="shipment-exists",
            shipment_id=existing,
        )
    await session.commit()
    return _public(values)


# ----------------------------------------------------------------------------- changing


async def _change_status(
    session: AsyncSession,
    shop: str,
    row: NamedRow,
    changes: dict[str, Any],
    *,
    cause: str,
    actor: str | None,
) -> dict[str, Any]:
    """Write `changes` (status and/or carrier, tracking number); emit on a status change."""
    now = utcnow()
    new = dict(row) | changes
    if changes.get("status", row["status"]) != row["status"]:
        new["history"] = [*row["history"], _entry(new["status"], row["status"], now, cause, actor)]
        await Outbox.add(
            session,
            SHIPMENT_STATUS_CHANGED,
            ShipmentStatusChanged(
                shipment_id=row["id"],
                order_id=row["order_id"],
                user_id=row["user_id"],
                status=new["status"],
                previous=row["status"],
                carrier=new["carrier"],
                tracking_number=new["tracking_number"],
                changed_at=now,
            ),
            shop=shop,
        )
    new |= dict(updated_at=now, version=row["version"] + 1)
    written = {k: new[k] for k in (*changes, "history", "updated_at", "version")}
    await session.execute(
        sa.update(SHIPMENTS)
        .where(SHIPMENTS.c.shop == shop, SHIPMENTS.c.id == row["id"])
        .values(written)
    )
    return new


async def update_shipment(
    session: AsyncSession, shop: str, shipment_id: str, body: ShipmentUpdate, actor: str
) -> ShipmentPublic:
    row = await _find(session, shop, shipment_id, lock=True)
    if row is None:
        raise shipment_not_found(shipment_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if row[k] != v}
    if "status" in changes:
        try:
            service.check_transition(row["status"], changes["status"])
        except service.TransitionError as exc:
            raise Conflict(
                f"Cannot change the status: {exc}.",
                slug="invalid-transition",
                current=row["status"],
                allowed=sorted(service.TRANSITIONS[row["status"]]),
            ) from None
    if not changes:
        await session.rollback()
        return _public(row)
    new = await _change_status(session, shop, row, changes, cause="admin", actor=actor)
    await session.commit()
    return _public(new)


async def delete_shipment(session: AsyncSession, shop: str, shipment_id: str) -> None:
    row = await _find(session, shop, shipment_id, lock=True)
    if row is None:
        raise shipment_not_found(shipment_id)
    if row["status"] not in service.DELETABLE:
        raise Conflict(
            f"A {row['status']} shipment cannot be deleted (only pending or cancelled ones "
            "can); PATCH its status instead.",
            slug="shipment-not-deletable",
        )
    await session.execute(
        sa.delete(SHIPMENTS).where(SHIPMENTS.c.shop == shop, SHIPMENTS.c.id == shipment_id)
    )
    await session.commit()


async def cancel_for_order(session: AsyncSession, shop: str, cancelled: OrderCancelled) -> None:
    """In the event handler's transaction: cancel the order's shipment if it has not left;
    with none yet, remember the order so that a late `order.paid` ships nothing."""
    query = sa.select(*SHIPMENT_COLUMNS).where(
        SHIPMENTS.c.shop == shop, SHIPMENTS.c.order_id == cancelled.order_id
    )
    row = (await session.execute(query.with_for_update())).mappings().first()
    if row is None:
        stmt = dialect_insert(session, CANCELLED).values(
            shop=shop, order_id=cancelled.order_id, cancelled_at=utcnow()
        )
        await session.execute(stmt.on_conflict_do_nothing())
        return
    if row["status"] not in service.NOT_YET_SHIPPED:
        log.warning(
            "order cancelled after its shipment left; an admin handles the return",
            shop=shop,
            order=cancelled.order_id,
            status=row["status"],
        )
        return
    await _change_status(
        session, shop, row, {"status": "cancelled"}, cause="order.cancelled", actor=None
    )
