"""A shipment's decisions, without a database: what `order.paid`, `order.cancelled` and an
admin's change or deletion do, and who sees a shipment."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any, get_args

import pytest

from shopfleet.kit.contracts.events import (
    OrderLinePayload,
    OrderPaid,
    ShipmentStatusChanged,
)
from shopfleet.kit.contracts.events import ShipmentStatus as ContractStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.errors import problem_for
from shopfleet.kit.money import Money
from shopfleet.shipping.domain.refusals import (
    ShipmentNotDeletable,
    ShipmentNotFound,
    TransitionRefused,
)
from shopfleet.shipping.domain.shipments import (
    NOT_YET_SHIPPED,
    TRANSITIONS,
    Change,
    LeftAlready,
    RememberCancelled,
    ShipmentRecord,
    ShipmentStatus,
    admin_changes,
    change,
    check_deletable,
    check_transition,
    created_event,
    listed_user,
    on_order_cancelled,
    seen_by,
    shipment_for_paid_order,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)
ADDRESS = Address(name="Ada", line1="Main St 1", city="Berlin", postal_code="10115", country="DE")
STATUSES = list(ShipmentStatus)


def shipment(status: ShipmentStatus = ShipmentStatus.PENDING, **changes: Any) -> ShipmentRecord:
    base = ShipmentRecord(
        id="s1",
        order_id="o1",
        user_id="ada",
        method_id="standard",
        status=status,
        carrier="DHL",
        tracking_number=None,
        address=ADDRESS.model_dump(mode="json"),
        lines=[{"product_id": "p1", "name": "Mug", "sku": "MUG", "quantity": 2}],
        history=[
            {
                "status": status.value,
                "previous": None,
                "at": T0.isoformat(),
                "cause": "order.paid",
                "actor": None,
            }
        ],
        created_at=T0,
        updated_at=T0,
        version=3,
    )
    return dataclasses.replace(base, **changes)


def paid(**changes: Any) -> OrderPaid:
    line = OrderLinePayload(
        product_id="p1",
        name="N" * 300,
        sku="S" * 100,
        quantity=2,
        unit_price=Money(amount=1200, currency="EUR"),
    )
    values: dict[str, Any] = dict(
        order_id="o1",
        user_id="ada",
        payment_id="pay1",
        total=Money(amount=2400, currency="EUR"),
        shipping_method_id="express",
        shipping_address=ADDRESS,
        lines=[line],
        paid_at=T0,
    )
    return OrderPaid(**(values | changes))


def test_the_statuses_are_the_contracts() -> None:
    assert {status.value for status in ShipmentStatus} == set(get_args(ContractStatus))
    assert set(TRANSITIONS) == set(ShipmentStatus)


def test_once_it_left_a_shipment_never_goes_back_to_the_warehouse() -> None:
    left = set(ShipmentStatus) - NOT_YET_SHIPPED
    for status in left:
        assert not TRANSITIONS[status] & NOT_YET_SHIPPED
        assert ShipmentStatus.CANCELLED not in TRANSITIONS[status]


@pytest.mark.parametrize(("current", "target"), list(product(STATUSES, STATUSES)))
def test_the_table_decides_every_move(current: ShipmentStatus, target: ShipmentStatus) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
        return
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, target)
    assert refused.value.slug == "invalid-transition"
    assert refused.value.extra == {
        "current": current.value,
        "allowed": sorted(status.value for status in TRANSITIONS[current]),
    }
    assert refused.value.detail.startswith("Cannot change the status: ")


def test_a_refused_move_is_a_409_naming_what_is_allowed() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(ShipmentStatus.DELIVERED, "pending")
    problem = problem_for(refused.value)
    assert (problem.status, problem.slug) == (409, "invalid-transition")
    assert problem.extra == {"current": "delivered", "allowed": ["returned"]}


def test_a_paid_order_gets_a_pending_shipment_with_its_lines_cut_to_fit() -> None:
    made = shipment_for_paid_order(paid(), "DHL Express", "s9", T1)
    assert (made.id, made.order_id, made.user_id, made.method_id) == ("s9", "o1", "ada", "express")
    assert (made.status, made.carrier, made.tracking_number) == ("pending", "DHL Express", None)
    assert made.lines == [{"product_id": "p1", "name": "N" * 200, "sku": "S" * 64, "quantity": 2}]
    assert made.address == ADDRESS.model_dump(mode="json")
    assert made.history == [
        {
            "status": "pending",
            "previous": None,
            "at": T1.isoformat(),
            "cause": "order.paid",
            "actor": None,
        }
    ]
    assert (made.created_at, made.updated_at, made.version) == (T1, T1, 1)


def test_a_paid_order_whose_method_is_gone_ships_without_a_carrier() -> None:
    assert shipment_for_paid_order(paid(), None, "s9", T1).carrier is None


def test_a_new_shipment_is_announced_as_it_was_made() -> None:
    made = shipment_for_paid_order(paid(), "DHL", "s9", T1)
    event = created_event(made)
    assert event.model_dump() == {
        "shipment_id": "s9",
        "order_id": "o1",
        "user_id": "ada",
        "method_id": "express",
        "created_at": T1,
    }


@pytest.mark.parametrize(
    ("user_id", "is_admin", "visible"),
    [("ada", False, True), ("bob", True, True), ("bob", False, False), ("", False, False)],
)
def test_a_shipment_is_seen_by_its_shopper_and_admins(
    user_id: str, is_admin: bool, visible: bool
) -> None:
    if visible:
        assert seen_by(shipment(), "s1", user_id=user_id, is_admin=is_admin).id == "s1"
        return
    with pytest.raises(ShipmentNotFound) as refused:
        seen_by(shipment(), "s1", user_id=user_id, is_admin=is_admin)
    assert refused.value.slug == "shipment-not-found" and "'s1'" in refused.value.detail


def test_a_missing_shipment_is_not_found_even_for_an_admin() -> None:
    with pytest.raises(ShipmentNotFound):
        seen_by(None, "s2", user_id="root", is_admin=True)


@pytest.mark.parametrize(
    ("is_admin", "asked", "listed"),
    [(False, "bob", "ada"), (False, None, "ada"), (True, "bob", "bob"), (True, None, None)],
)
def test_a_list_shows_a_shoppers_own_or_what_an_admin_asks(
    is_admin: bool, asked: str | None, listed: str | None
) -> None:
    assert listed_user("ada", is_admin=is_admin, asked=asked) == listed


def test_an_admin_change_keeps_only_what_differs() -> None:
    current = shipment(ShipmentStatus.PACKED)
    assert admin_changes(current, {"status": "packed", "carrier": "DHL"}) == {}
    changes = admin_changes(current, {"status": "shipped", "tracking_number": "T-1"})
    assert changes == {"status": ShipmentStatus.SHIPPED, "tracking_number": "T-1"}
    assert isinstance(changes["status"], ShipmentStatus)


def test_an_admin_change_may_not_move_a_shipment_back() -> None:
    with pytest.raises(TransitionRefused):
        admin_changes(shipment(ShipmentStatus.SHIPPED), {"status": "packed", "carrier": "UPS"})


def test_a_status_change_is_kept_in_the_history_and_announced() -> None:
    current = shipment(ShipmentStatus.PACKED)
    moved = change(
        current,
        {"status": ShipmentStatus.SHIPPED, "tracking_number": "T-1"},
        cause="admin",
        actor="root",
        now=T1,
    )
    after = moved.shipment
    assert (after.status, after.tracking_number, after.version, after.updated_at) == (
        "shipped",
        "T-1",
        4,
        T1,
    )
    assert after.history == [
        *current.history,
        {
            "status": "shipped",
            "previous": "packed",
            "at": T1.isoformat(),
            "cause": "admin",
            "actor": "root",
        },
    ]
    assert moved.event == ShipmentStatusChanged(
        shipment_id="s1",
        order_id="o1",
        user_id="ada",
        status="shipped",
        previous="packed",
        carrier="DHL",
        tracking_number="T-1",
        changed_at=T1,
    )
    assert set(moved.columns) == {"status", "tracking_number", "history", "updated_at", "version"}
    assert moved.columns["history"] == after.history


def test_a_carrier_change_alone_is_written_but_not_announced() -> None:
    current = shipment(ShipmentStatus.SHIPPED)
    moved = change(current, {"carrier": "UPS"}, cause="admin", actor="root", now=T1)
    assert moved.event is None
    assert moved.shipment.history == current.history
    assert moved.columns == {
        "carrier": "UPS",
        "history": current.history,
        "updated_at": T1,
        "version": 4,
    }


@pytest.mark.parametrize("status", STATUSES)
def test_only_pending_or_cancelled_shipments_may_be_deleted(status: ShipmentStatus) -> None:
    if status in {ShipmentStatus.PENDING, ShipmentStatus.CANCELLED}:
        check_deletable(shipment(status))
        return
    with pytest.raises(ShipmentNotDeletable) as refused:
        check_deletable(shipment(status))
    assert refused.value.slug == "shipment-not-deletable"
    assert refused.value.detail.startswith(f"A {status.value} shipment cannot be deleted")


def test_an_order_cancelled_before_its_shipment_is_remembered() -> None:
    assert on_order_cancelled(None, T1) == RememberCancelled()


@pytest.mark.parametrize("status", STATUSES)
def test_an_order_cancelled_cancels_its_shipment_until_it_left(status: ShipmentStatus) -> None:
    decided = on_order_cancelled(shipment(status), T1)
    if status not in NOT_YET_SHIPPED:
        assert decided == LeftAlready(status)
        return
    assert isinstance(decided, Change)
    assert decided.shipment.status == ShipmentStatus.CANCELLED
    assert decided.shipment.history[-1] == {
        "status": "cancelled",
        "previous": status.value,
        "at": T1.isoformat(),
        "cause": "order.cancelled",
        "actor": None,
    }
    assert decided.event is not None and decided.event.previous == status.value
