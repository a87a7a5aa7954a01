"""The saga's decisions as pure functions: payments, shipping, cancel, expiry, stock.

Each test hands a decision an order as stored and an event, and reads what it would store
and publish: no database, no app. Late, duplicate and out-of-order events included.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.refusals import status_of
from shopfleet.orders.domain import saga
from shopfleet.orders.domain.access import Caller
from shopfleet.orders.domain.order import NOTHING, Cause, Status, Stock, move
from shopfleet.orders.domain.refusals import (
    OrderEnded,
    OrderNotCancellable,
    TransitionRefused,
)
from tests.unit.orders.records import (
    ADMIN,
    MUG,
    NOW,
    SHOPPER,
    order,
    paid,
    payload,
    payment_failed,
    payment_refunded,
    payment_succeeded,
    shipment_created,
    shipment_moved,
    topics,
)

SHOPPER_CALLS = Caller(user_id=SHOPPER, is_admin=False)
ADMIN_CALLS = Caller(user_id=ADMIN, is_admin=True)

# ----------------------------------------------------------------------------- payments


def test_a_payment_of_an_unpaid_order_pays_it_and_commits_its_stock() -> None:
    decision = saga.decide_payment_succeeded(order(), payment_succeeded(), NOW)

    assert (decision.target, decision.cause, decision.actor) == (
        Status.PAID,
        Cause.PAYMENT_SUCCEEDED,
        "system",
    )
    assert decision.changes == {
        "stock": Stock.COMMIT_PENDING,
        "payment_id": "pay-1",
        "paid_at": NOW,
        "expires_at": None,
    }
    assert decision.note is None
    assert topics(decision.events) == [ev.ORDER_STATUS_CHANGED, ev.ORDER_PAID]
    changed = payload(decision.events, ev.ORDER_STATUS_CHANGED)
    assert (changed["status"], changed["previous"], changed["cause"]) == (
        "paid",
        "pending_payment",
        "payment.succeeded",
    )
    shipped_to = payload(decision.events, ev.ORDER_PAID)
    assert shipped_to["total"] == {"amount": 2990, "currency": "EUR"}
    assert shipped_to["shipping_address"]["postal_code"] == "SW1Y 4JH"
    assert [line["product_id"] for line in shipped_to["lines"]] == [MUG]


def test_a_payment_of_another_amount_is_noted_on_the_paid_order() -> None:
    decision = saga.decide_payment_succeeded(order(), payment_succeeded(amount=1000), NOW)
    assert decision.target is Status.PAID
    assert decision.note == "charged 10.00 EUR, the order's total is 29.90 EUR"


def test_a_payment_leaves_stock_that_is_not_reserved_as_it_is() -> None:
    unreserved = order(stock=Stock.RELEASE_PENDING)
    decision = saga.decide_payment_succeeded(unreserved, payment_succeeded(), NOW)
    assert decision.changes["stock"] is Stock.RELEASE_PENDING


def test_the_same_payment_delivered_twice_changes_nothing() -> None:
    assert saga.decide_payment_succeeded(paid(), payment_succeeded("pay-1"), NOW) is NOTHING
    delivered = paid(Status.DELIVERED)
    assert saga.decide_payment_succeeded(delivered, payment_succeeded("pay-1"), NOW) is NOTHING


def test_a_second_payment_of_a_paid_order_is_noted_for_a_refund() -> None:
    decision = saga.decide_payment_succeeded(paid(), payment_succeeded("pay-2"), NOW)

    assert decision.cause is Cause.PAYMENT_DUPLICATE and decision.target is None
    assert decision.changes == {} and decision.events == ()
    assert decision.note == "a second payment pay-2 of 29.90 EUR succeeded; refund it"
    assert decision.warning == "second payment for a paid order"


def test_a_late_payment_of_a_cancelled_order_is_refunded_in_full() -> None:
    cancelled = order(
        Status.CANCELLED,
        stock=Stock.RELEASED,
        cancel_cause=Cause.EXPIRED,
        cancel_reason="not paid within 30 minutes",
    )
    decision = saga.decide_payment_succeeded(cancelled, payment_succeeded("pay-9"), NOW)

    assert decision.target is None  # it stays cancelled
    assert decision.cause is Cause.PAYMENT_LATE
    assert decision.changes == {"payment_id": "pay-9"}  # the money's trace
    assert decision.note == (
        "payment pay-9 of 29.90 EUR succeeded after the order was cancelled; it is refunded in full"
    )
    assert topics(decision.events) == [ev.ORDER_CANCELLED]  # payments refunds on it
    refund = payload(decision.events, ev.ORDER_CANCELLED)
    assert refund["was_paid"] is True
    assert (refund["status"], refund["cause"]) == ("cancelled", "expired")
    assert refund["reason"] == "not paid within 30 minutes"


def test_a_late_payment_of_a_failed_or_refunded_order_is_refunded_too() -> None:
    failed = order(Status.PAYMENT_FAILED, cancel_cause=Cause.PAYMENT_FAILED, cancel_reason="x")
    refund = payload(
        saga.decide_payment_succeeded(failed, payment_succeeded("pay-9"), NOW).events,
        ev.ORDER_CANCELLED,
    )
    assert (refund["status"], refund["cause"], refund["was_paid"]) == (
        "payment_failed",
        "payment_failed",
        True,
    )
    refunded = paid(Status.REFUNDED)  # refunded from paid: never cancelled, no cause
    refund = payload(
        saga.decide_payment_succeeded(refunded, payment_succeeded("pay-9"), NOW).events,
        ev.ORDER_CANCELLED,
    )
    assert (refund["status"], refund["cause"], refund["reason"]) == ("cancelled", "admin", "")


def test_a_failed_payment_ends_an_unpaid_order_and_releases_its_stock() -> None:
    decision = saga.decide_payment_failed(order(), payment_failed(), NOW)

    assert (decision.target, decision.cause) == (Status.PAYMENT_FAILED, Cause.PAYMENT_FAILED)
    assert decision.changes == {
        "stock": Stock.RELEASE_PENDING,
        "cancel_reason": "card_declined: Your card was declined.",
        "cancel_cause": Cause.PAYMENT_FAILED,
        "expires_at": None,
    }
    assert topics(decision.events) == [ev.ORDER_STATUS_CHANGED, ev.ORDER_CANCELLED]
    ended = payload(decision.events, ev.ORDER_CANCELLED)
    assert (ended["status"], ended["cause"], ended["was_paid"]) == (
        "payment_failed",
        "payment_failed",
        False,
    )


def test_a_failure_reason_is_cut_to_what_the_order_keeps() -> None:
    decision = saga.decide_payment_failed(order(), payment_failed("no " * 400), NOW)
    assert len(decision.changes["cancel_reason"]) == 500


@pytest.mark.parametrize("status", [Status.PAID, Status.SHIPPED, Status.CANCELLED])
def test_a_failed_attempt_after_payment_or_end_changes_nothing(status: Status) -> None:
    assert saga.decide_payment_failed(paid(status), payment_failed(), NOW) is NOTHING


# ----------------------------------------------------------------------------- refunds


def test_a_full_refund_of_a_paid_order_puts_its_stock_back_on_sale() -> None:
    decision = saga.decide_payment_refunded(paid(), payment_refunded(2990, 2990, full=True), NOW)

    assert (decision.target, decision.cause) == (Status.REFUNDED, Cause.PAYMENT_REFUNDED)
    assert decision.changes == {"stock": Stock.RELEASE_PENDING, "refunded_amount": 2990}
    assert decision.note == "refund re-1: 29.90 EUR (refunded so far: 29.90 EUR)"
    assert topics(decision.events) == [ev.ORDER_STATUS_CHANGED]  # no second order.cancelled


def test_a_refund_after_shipment_keeps_the_goods_out_of_stock() -> None:
    shipped = paid(Status.SHIPPED)
    decision = saga.decide_payment_refunded(shipped, payment_refunded(2990, 2990, full=True), NOW)
    assert decision.target is Status.REFUNDED
    assert decision.changes["stock"] is Stock.COMMITTED  # a return is restocked by hand


def test_a_partial_refund_is_noted_with_the_refunded_total() -> None:
    decision = saga.decide_payment_refunded(paid(), payment_refunded(1000, 1000, full=False), NOW)
    assert decision.target is None and decision.cause is Cause.PAYMENT_REFUNDED
    assert decision.changes == {"refunded_amount": 1000}
    assert decision.events == ()


def test_an_older_refund_arriving_late_never_lowers_the_refunded_total() -> None:
    refunded_1500 = paid(refunded_amount=1500)
    older = payment_refunded(1000, 1000, full=False)
    assert saga.decide_payment_refunded(refunded_1500, older, NOW).changes == {
        "refunded_amount": 1500
    }


def test_a_full_refund_the_table_does_not_allow_is_only_noted() -> None:
    refunded = paid(Status.REFUNDED, refunded_amount=2990)
    again = saga.decide_payment_refunded(refunded, payment_refunded(0, 2990, full=True), NOW)
    assert again.target is None and again.changes == {"refunded_amount": 2990}


def test_a_cancelled_paid_order_becomes_refunded_when_payments_refunds_it() -> None:
    cancelled = paid(Status.CANCELLED, stock=Stock.RELEASED, cancel_cause=Cause.USER)
    decision = saga.decide_payment_refunded(cancelled, payment_refunded(2990, 2990, full=True), NOW)
    assert decision.target is Status.REFUNDED
    assert decision.changes["stock"] is Stock.RELEASED  # already back on sale


# ----------------------------------------------------------------------------- shipping


def test_a_shipment_of_a_paid_order_starts_its_fulfilment() -> None:
    decision = saga.decide_shipment_created(paid(), shipment_created(), NOW)
    assert (decision.target, decision.cause) == (Status.FULFILLING, Cause.SHIPMENT_CREATED)
    assert decision.note == "shipment shp-1"


@pytest.mark.parametrize(
    "status", [Status.PENDING_PAYMENT, Status.FULFILLING, Status.DELIVERED, Status.CANCELLED]
)
def test_a_shipment_of_an_order_that_is_not_just_paid_changes_nothing(status: Status) -> None:
    assert saga.decide_shipment_created(paid(status), shipment_created(), NOW) is NOTHING


def test_shipping_moves_the_order_forward_with_the_tracking_number() -> None:
    decision = saga.decide_shipment_status_changed(
        paid(Status.FULFILLING), shipment_moved("in_transit", "shipped"), NOW
    )
    assert (decision.target, decision.cause) == (Status.SHIPPED, Cause.SHIPMENT_IN_TRANSIT)
    assert decision.note == "shipment shp-1 (DHL JD0001)"
    untracked = shipment_moved("delivered", carrier=None, tracking_number=None)
    decision = saga.decide_shipment_status_changed(paid(Status.SHIPPED), untracked, NOW)
    assert (decision.target, decision.note) == (Status.DELIVERED, "shipment shp-1")


def test_out_of_order_shipment_events_never_move_an_order_back() -> None:
    delivered = paid(Status.DELIVERED)
    late = shipment_moved("shipped")
    assert saga.decide_shipment_status_changed(delivered, late, NOW) is NOTHING
    assert saga.decide_shipment_created(delivered, shipment_created(), NOW) is NOTHING
    # ...while a "delivered" that overtook "shipped" moves a paid order straight there
    skipped = saga.decide_shipment_status_changed(paid(), shipment_moved("delivered"), NOW)
    assert skipped.target is Status.DELIVERED


def test_shipping_never_moves_an_ended_or_unpaid_order() -> None:
    for status in (Status.CANCELLED, Status.REFUNDED, Status.PENDING_PAYMENT):
        moved = shipment_moved("delivered", "shipped")
        assert saga.decide_shipment_status_changed(paid(status), moved, NOW) is NOTHING


def test_shipment_statuses_that_do_not_move_orders_are_not_even_looked_up() -> None:
    assert not saga.shipment_moves_orders("packed")
    assert not saga.shipment_moves_orders("returned")
    assert saga.shipment_moves_orders("in_transit")
    packed = shipment_moved("packed")
    assert saga.decide_shipment_status_changed(paid(), packed, NOW) is NOTHING


# ----------------------------------------------------------------------------- cancel, expiry


def test_a_shopper_cancels_an_unpaid_order_and_its_stock_goes_back() -> None:
    decision = saga.decide_cancel(order(), SHOPPER_CALLS, None, NOW)

    assert (decision.target, decision.cause, decision.actor) == (
        Status.CANCELLED,
        Cause.USER,
        SHOPPER,
    )
    assert decision.changes["stock"] is Stock.RELEASE_PENDING
    assert decision.changes["cancel_reason"] == "cancelled by the shopper"
    ended = payload(decision.events, ev.ORDER_CANCELLED)
    assert (ended["cause"], ended["was_paid"]) == ("user", False)


def test_a_shop_cancelling_a_shipped_order_refunds_it_and_notes_the_return() -> None:
    shipped = paid(Status.SHIPPED)
    decision = saga.decide_cancel(shipped, ADMIN_CALLS, "damaged in transit", NOW)

    assert (decision.cause, decision.actor) == (Cause.ADMIN, ADMIN)
    assert decision.changes["stock"] is Stock.COMMITTED
    assert decision.note == "damaged in transit (the goods had shipped: restock a return by hand)"
    ended = payload(decision.events, ev.ORDER_CANCELLED)
    assert (ended["cause"], ended["reason"], ended["was_paid"]) == (
        "admin",
        "damaged in transit",
        True,
    )


def test_an_admin_cancelling_their_own_order_cancels_as_its_shopper() -> None:
    own = order(user_id=ADMIN)
    decision = saga.decide_cancel(own, ADMIN_CALLS, None, NOW)
    assert decision.cause is Cause.USER
    assert decision.changes["cancel_reason"] == "cancelled by the shopper"


def test_a_shopper_cannot_cancel_once_the_order_shipped() -> None:
    with pytest.raises(OrderNotCancellable) as refused:
        saga.decide_cancel(paid(Status.SHIPPED), SHOPPER_CALLS, None, NOW)
    assert status_of(refused.value) == 409 and refused.value.slug == "order-not-cancellable"
    assert refused.value.detail.startswith("The order is shipped; once shipped only the shop")


def test_an_ended_order_cannot_be_cancelled_again() -> None:
    with pytest.raises(OrderEnded) as refused:
        saga.decide_cancel(order(Status.PAYMENT_FAILED), ADMIN_CALLS, None, NOW)
    assert refused.value.detail == "The order is already payment failed."
    assert refused.value.slug == "order-ended"


def test_an_unpaid_order_expires_with_the_window_in_its_reason() -> None:
    decision = saga.decide_expiry(order(), timedelta(minutes=30), NOW)
    assert (decision.target, decision.cause) == (Status.CANCELLED, Cause.EXPIRED)
    assert decision.changes["cancel_reason"] == "not paid within 30 minutes"
    assert saga.decide_expiry(order(), timedelta(seconds=10), NOW).changes["cancel_reason"] == (
        "not paid within 1 minutes"
    )


def test_a_move_the_table_forbids_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        move(order(Status.DELIVERED), Status.PAID, Cause.PAYMENT_SUCCEEDED, NOW)
    assert refused.value.detail == "An order that is delivered cannot become paid."
    assert refused.value.slug == "conflict" and status_of(refused.value) == 409


# ----------------------------------------------------------------------------- stock


def test_only_pending_stock_calls_catalog() -> None:
    assert saga.stock_call(Stock.COMMIT_PENDING) is Stock.COMMIT_PENDING
    assert saga.stock_call(Stock.RELEASE_PENDING) is Stock.RELEASE_PENDING
    for settled in (Stock.RESERVED, Stock.COMMITTED, Stock.RELEASED, Stock.KEPT, None):
        assert saga.stock_call(settled) is None


def test_catalogs_answers_settle_the_stock() -> None:
    assert saga.stock_settled(Stock.COMMIT_PENDING, "committed") is Stock.COMMITTED
    assert saga.stock_settled(Stock.COMMIT_PENDING, "not_reserved") is Stock.RELEASED
    assert saga.stock_settled(Stock.RELEASE_PENDING, "released") is Stock.RELEASED
    assert saga.stock_settled(Stock.RELEASE_PENDING, "kept") is Stock.KEPT
    kept = saga.decide_stock_kept(order(Status.CANCELLED))
    assert kept.cause is Cause.STOCK_KEPT and kept.target is None and kept.changes == {}
