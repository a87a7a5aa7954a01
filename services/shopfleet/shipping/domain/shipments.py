"""Shipments: their statuses and the moves between them, and what `order.paid`,
`order.cancelled` and an admin's change or deletion do to one.

Exactly once per order is the store's (a unique order id); here a shipment is built,
moved on (each status change is added to its history and announced), or refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shopfleet.kit.contracts.events import OrderPaid, ShipmentCreated, ShipmentStatusChanged
from shopfleet.shipping.domain.edits import changed_fields
from shopfleet.shipping.domain.refusals import (
    ShipmentNotDeletable,
    ShipmentNotFound,
    TransitionRefused,
)


class ShipmentStatus(StrEnum):
    """The states of a shipment (the values of the contract's `ShipmentStatus`)."""

    PENDING = "pending"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"


# Where a shipment may go from each status. A parcel may skip steps forward (a carrier
# scan can be missed), never go back once it left; returned and cancelled are final.
TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset(
        {ShipmentStatus.PACKED, ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}
    ),
    ShipmentStatus.PACKED: frozenset(
        {ShipmentStatus.PENDING, ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}
    ),
    ShipmentStatus.SHIPPED: frozenset(
        {ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED}
    ),
    ShipmentStatus.IN_TRANSIT: frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED}),
    ShipmentStatus.DELIVERED: frozenset({ShipmentStatus.RETURNED}),
    ShipmentStatus.RETURNED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}
NOT_YET_SHIPPED: frozenset[ShipmentStatus] = frozenset(
    {ShipmentStatus.PENDING, ShipmentStatus.PACKED}
)
DELETABLE: frozenset[ShipmentStatus] = frozenset({ShipmentStatus.PENDING, ShipmentStatus.CANCELLED})

# A status change as the shipment's history keeps it: status, previous, at, cause, actor.
HistoryEntry = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    """A `shipments` row (of one shop); `address` and `lines` as the API shows them."""

    id: str
    order_id: str
    user_id: str
    method_id: str
    status: ShipmentStatus
    carrier: str | None
    tracking_number: str | None
    address: dict[str, Any]
    lines: list[dict[str, Any]]
    history: list[HistoryEntry]
    created_at: datetime
    updated_at: datetime
    version: int


def history_entry(
    status: ShipmentStatus,
    previous: ShipmentStatus | None,
    at: datetime,
    cause: str,
    actor: str | None,
) -> HistoryEntry:
    return {
        "status": status.value,
        "previous": previous.value if previous is not None else None,
        "at": at.isoformat(),
        "cause": cause,
        "actor": actor,
    }


def new_shipment(
    shipment_id: str,
    *,
    order_id: str,
    user_id: str,
    method_id: str,
    carrier: str | None,
    tracking_number: str | None,
    address: dict[str, Any],
    lines: list[dict[str, Any]],
    cause: str,
    actor: str | None,
    now: datetime,
) -> ShipmentRecord:
    """A pending shipment, its history starting with `cause`."""
    return ShipmentRecord(
        id=shipment_id,
        order_id=order_id,
        user_id=user_id,
        method_id=method_id,
        status=ShipmentStatus.PENDING,
        carrier=carrier,
        tracking_number=tracking_number,
        address=address,
        lines=lines,
        history=[history_entry(ShipmentStatus.PENDING, None, now, cause, actor)],
        created_at=now,
        updated_at=now,
        version=1,
    )


def shipment_for_paid_order(
    paid: OrderPaid, carrier: str | None, shipment_id: str, now: datetime
) -> ShipmentRecord:
    """The shipment of a paid order: its address and lines, its method's carrier (None if
    the method is gone); names and SKUs cut to what the table keeps."""
    lines = [
        {
            "product_id": line.product_id,
            "name": line.name[:200],
            "sku": line.sku[:64],
            "quantity": line.quantity,
        }
        for line in paid.lines
    ]
    return new_shipment(
        shipment_id,
        order_id=paid.order_id,
        user_id=paid.user_id,
        method_id=paid.shipping_method_id,
        carrier=carrier,
        tracking_number=None,
        address=paid.shipping_address.model_dump(mode="json"),
        lines=lines,
        cause="order.paid",
        actor=None,
        now=now,
    )


def created_event(shipment: ShipmentRecord) -> ShipmentCreated:
    return ShipmentCreated(
        shipment_id=shipment.id,
        order_id=shipment.order_id,
        user_id=shipment.user_id,
        method_id=shipment.method_id,
        created_at=shipment.created_at,
    )


def seen_by(
    shipment: ShipmentRecord | None, shipment_id: str, *, user_id: str, is_admin: bool
) -> ShipmentRecord:
    """The shipment if the caller may see it: its shopper, or an admin (else a 404)."""
    if shipment is None or not (is_admin or shipment.user_id == user_id):
        raise ShipmentNotFound.of(shipment_id)
    return shipment


def check_transition(current: ShipmentStatus, target: str) -> None:
    """May a shipment in `current` move to `target`? `TransitionRefused` says why not."""
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise TransitionRefused(
            f"Cannot change the status: a {current} shipment cannot become {target}; "
            f"from {current} it may become {options}.",
            current=str(current),
            allowed=sorted(status.value for status in allowed),
        )


def admin_changes(shipment: ShipmentRecord, requested: Mapping[str, Any]) -> dict[str, Any]:
    """What an admin's PATCH changes (status, carrier, tracking number), checked."""
    changes = changed_fields(shipment, requested)
    if "status" in changes:
        check_transition(shipment.status, changes["status"])
        changes["status"] = ShipmentStatus(changes["status"])
    return changes


@dataclass(frozen=True, slots=True)
class Change:
    """A shipment changed: the columns to write, and the event of a status change."""

    shipment: ShipmentRecord
    columns: dict[str, Any]
    event: ShipmentStatusChanged | None


def change(
    current: ShipmentRecord,
    changes: Mapping[str, Any],
    *,
    cause: str,
    actor: str | None,
    now: datetime,
) -> Change:
    """`current` with `changes` (status and/or carrier, tracking number), one version on;
    a new status is added to the history and announced."""
    new = dataclasses.replace(current, **changes)
    event = None
    if new.status != current.status:
        entry = history_entry(new.status, current.status, now, cause, actor)
        new = dataclasses.replace(new, history=[*current.history, entry])
        event = ShipmentStatusChanged(
            shipment_id=current.id,
            order_id=current.order_id,
            user_id=current.user_id,
            status=new.status.value,
            previous=current.status.value,
            carrier=new.carrier,
            tracking_number=new.tracking_number,
            changed_at=now,
        )
    new = dataclasses.replace(new, updated_at=now, version=current.version + 1)
    names = (*changes, "history", "updated_at", "version")
    columns = {name: getattr(new, name) for name in names}
    return Change(new, columns, event)


def check_deletable(shipment: ShipmentRecord) -> None:
    if shipment.status not in DELETABLE:
        raise ShipmentNotDeletable(
            f"A {shipment.status} shipment cannot be deleted (only pending or cancelled "
            "ones can); PATCH its status instead."
        )


@dataclass(frozen=True, slots=True)
class RememberCancelled:
    """No shipment yet: remember the order, so that a late `order.paid` ships nothing."""


@dataclass(frozen=True, slots=True)
class LeftAlready:
    """The shipment left before the order was cancelled: an admin handles the return."""

    status: ShipmentStatus


def on_order_cancelled(
    shipment: ShipmentRecord | None, now: datetime
) -> RememberCancelled | LeftAlready | Change:
    """What `order.cancelled` does to the order's shipment (`shipment`, if any)."""
    if shipment is None:
        return RememberCancelled()
    if shipment.status not in NOT_YET_SHIPPED:
        return LeftAlready(shipment.status)
    return change(
        shipment, {"status": ShipmentStatus.CANCELLED}, cause="order.cancelled", actor=None, now=now
    )


def listed_user(user_id: str, *, is_admin: bool, asked: str | None) -> str | None:
    """Whose shipments a list shows: a shopper's own; an admin's choice (None: all)."""
    return asked if is_admin else user_id
