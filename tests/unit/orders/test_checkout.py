"""Placing and re-quoting as pure decisions: the shop's daily quota, the shopper's open
orders, the Idempotency-Key, a stock shortage, opening the order, a new quote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.cart import CartLine, CartLines
from shopfleet.kit.contracts.catalog import ReservationResult, ReservationShortage
from shopfleet.kit.contracts.shipping import Quote
from shopfleet.kit.refusals import headers_of, status_of
from shopfleet.orders.domain import checkout
from shopfleet.orders.domain.checkout import OpenOrder, Requote
from shopfleet.orders.domain.order import Cause, Status, Stock
from shopfleet.orders.domain.pricing import Priced
from shopfleet.orders.domain.refusals import (
    CartAlreadyOrdered,
    CartRefused,
    DailyQuotaExceeded,
    DependencyUnavailable,
    IdempotencyKeyReused,
    OrderChanged,
    OrderNotEditable,
    OutOfStock,
    TooManyUnpaidOrders,
)
from tests.unit.orders.records import MUG, NOW, SHOPPER, money, order, payload, topics

# ----------------------------------------------------------------------------- limits


def test_the_daily_quota_lets_orders_through_until_it_is_used() -> None:
    checkout.check_daily_quota(used=2, limit=3, now=NOW)  # no refusal


def test_the_daily_quota_refuses_until_midnight_utc() -> None:
    late = datetime(2025, 3, 14, 23, 59, 0, tzinfo=UTC)
    with pytest.raises(DailyQuotaExceeded) as refused:
        checkout.check_daily_quota(used=3, limit=3, now=late)
    assert status_of(refused.value) == 429 and refused.value.slug == "quota-exceeded"
    assert headers_of(refused.value) == {"Retry-After": "60"}
    assert refused.value.extra == {"quota": "ordersPerDay", "limit": 3, "used": 3}
    assert "allows 3 per day; the day ends at midnight UTC, in 60 s." in refused.value.detail


def _open(order_id: str, status: Status = Status.PENDING_PAYMENT, **kw: str) -> OpenOrder:
    values = {"cart_version": None, "idempotency_key": None} | kw
    return OpenOrder(id=order_id, status=status, **values)


def test_a_shopper_under_the_cap_may_place() -> None:
    open_now = [_open("o1", cart_version="v1")]
    assert checkout.may_place(open_now, cart_version="v2", key=None, cap=3)
    assert checkout.may_place([], cart_version=None, key="k", cap=1)


def test_a_key_used_meanwhile_answers_its_order_instead_of_refusing() -> None:
    open_now = [_open("o1", cart_version="v1", idempotency_key="k")]
    assert not checkout.may_place(open_now, cart_version="v1", key="k", cap=1)


def test_a_cart_version_ordered_and_awaiting_payment_is_refused() -> None:
    with pytest.raises(CartAlreadyOrdered) as refused:
        checkout.may_place([_open("o1", cart_version="v1")], cart_version="v1", key=None, cap=3)
    assert status_of(refused.value) == 409 and refused.value.extra == {"order_id": "o1"}
    assert "order o1 awaits payment" in refused.value.detail
    assert headers_of(refused.value) == {}  # pay or cancel it: no point retrying soon


def test_a_cart_version_being_placed_is_refused_with_a_retry() -> None:
    placing = _open("o1", Status.PLACING, cart_version="v1")
    with pytest.raises(CartAlreadyOrdered) as refused:
        checkout.may_place([placing], cart_version="v1", key=None, cap=3)
    assert "order o1 is being placed" in refused.value.detail
    assert headers_of(refused.value) == {"Retry-After": "5"}


def test_a_cart_an_open_order_emptied_names_that_order() -> None:
    """A late duplicate reads the cart as the order it duplicates read it (`ordered_by`):
    refused naming that order, whatever the version, and never placed again."""
    open_now = [_open("o1", cart_version="v1"), _open("o2", cart_version="v2")]
    with pytest.raises(CartAlreadyOrdered) as refused:
        checkout.may_place(open_now, cart_version="v9", key=None, cap=3, ordered_by="o2")
    assert refused.value.extra == {"order_id": "o2"}


def test_a_cart_an_order_emptied_is_empty_once_that_order_is_paid_or_ended() -> None:
    with pytest.raises(CartRefused) as refused:
        checkout.may_place([_open("o1")], cart_version="v1", key=None, cap=3, ordered_by="o0")
    assert refused.value.slug == "cart-empty"


def test_the_unpaid_order_cap_names_the_orders_to_pay_or_cancel() -> None:
    open_now = [_open("o1"), _open("o2"), _open("o3", Status.PLACING)]
    with pytest.raises(TooManyUnpaidOrders) as refused:
        checkout.may_place(open_now, cart_version="v9", key=None, cap=3)
    assert status_of(refused.value) == 409 and refused.value.slug == "too-many-unpaid-orders"
    assert refused.value.extra == {"open_orders": ["o1", "o2"], "limit": 3}
    assert refused.value.detail.startswith("You have 3 orders awaiting payment")


def test_a_cart_version_depends_on_its_etag_and_lines_not_their_order() -> None:
    lines = [CartLine(product_id="a", quantity=1), CartLine(product_id="b", quantity=2)]
    cart = CartLines(user_id=SHOPPER, lines=lines, version="7")
    shuffled = CartLines(user_id=SHOPPER, lines=lines[::-1], version="7")
    assert checkout.cart_version(cart) == checkout.cart_version(shuffled)
    assert checkout.cart_version(cart) != checkout.cart_version(
        cart.model_copy(update={"version": "8"})
    )
    assert checkout.cart_version(cart.model_copy(update={"version": None})) is None


# ----------------------------------------------------------------------------- idempotency


def test_a_key_answers_its_order_once_placed() -> None:
    assert checkout.placed_by_key(order(request_hash="h1"), "h1")
    assert not checkout.placed_by_key(order(Status.PLACING, request_hash="h1"), "h1")


def test_a_key_reused_for_another_request_is_refused() -> None:
    with pytest.raises(IdempotencyKeyReused) as refused:
        checkout.placed_by_key(order(request_hash="h1"), "h2")
    assert status_of(refused.value) == 422 and refused.value.field == "Idempotency-Key"
    assert refused.value.slug == "idempotency-key-reused"


# ----------------------------------------------------------------------------- reserving, opening


def _shortage() -> ReservationResult:
    short = ReservationShortage(product_id=MUG, requested=2, available=1)
    return ReservationResult(order_id="o1", status="rejected", lines=[], shortages=[short])


def test_a_shortage_names_each_short_product_and_what_is_left() -> None:
    refused = checkout.reservation_refused(_shortage(), order().lines)
    assert isinstance(refused, OutOfStock) and status_of(refused) == 409
    assert refused.detail.startswith("Not enough stock for: Mug: 2 wanted, 1 available.")
    assert refused.extra["shortages"] == [
        {"product_id": MUG, "requested": 2, "available": 1, "name": "Mug"}
    ]


def test_a_reservation_made_refuses_nothing() -> None:
    reserved = ReservationResult(order_id="o1", status="reserved", lines=[])
    assert checkout.reservation_refused(reserved, order().lines) is None


def test_a_reservation_catalog_did_not_make_is_catalog_unavailable() -> None:
    odd = ReservationResult(order_id="o1", status="released", lines=[])
    refused = checkout.reservation_refused(odd, order().lines)
    assert isinstance(refused, DependencyUnavailable)
    assert (status_of(refused), refused.slug) == (503, "catalog-unavailable")
    assert headers_of(refused) == {"Retry-After": "5"}


def test_an_order_the_sweeper_gave_up_on_cannot_be_opened() -> None:
    for gone in (None, order(Status.CANCELLED)):
        with pytest.raises(DependencyUnavailable) as refused:
            checkout.still_placing(gone)
        assert refused.value.slug == "orders-unavailable"
    placing = order(Status.PLACING)
    assert checkout.still_placing(placing) is placing


def test_an_order_opens_awaiting_payment_until_its_window_closes() -> None:
    placing = order(Status.PLACING, stock=Stock.NONE)
    decision = checkout.decide_open(placing, timedelta(minutes=30), NOW)

    assert (decision.target, decision.cause, decision.actor) == (
        Status.PENDING_PAYMENT,
        Cause.PLACED,
        SHOPPER,
    )
    assert decision.changes == {"stock": Stock.RESERVED, "expires_at": NOW + timedelta(minutes=30)}
    assert topics(decision.events) == [ev.ORDER_STATUS_CHANGED, ev.ORDER_PLACED]
    assert payload(decision.events, ev.ORDER_STATUS_CHANGED)["previous"] is None  # never shown
    placed = payload(decision.events, ev.ORDER_PLACED)
    assert (placed["subtotal"]["amount"], placed["shipping"]["amount"]) == (2500, 490)


def test_a_draft_must_be_chargeable_in_one_currency() -> None:
    lines = list(order().lines)
    priced = Priced(lines=lines, subtotal=money(2500))
    dollars = _quote(cost=490).model_copy(
        update={"cost": money(490).model_copy(update={"currency": "USD"})}
    )
    with pytest.raises(CartRefused) as refused:
        checkout.draft("acme", SHOPPER, priced, order().shipping_address, dollars, None)
    assert refused.value.slug == "currency-mismatch"
    fine = checkout.draft("acme", SHOPPER, priced, order().shipping_address, _quote(490), "v1")
    assert fine.total == money(2990)
    assert [(line.product_id, line.quantity) for line in fine.reservation().lines] == [(MUG, 2)]


# ----------------------------------------------------------------------------- re-quoting


def _quote(cost: int) -> Quote:
    return Quote(
        method_id="express",
        method_name="Express",
        carrier="DHL",
        cost=money(cost),
        subtotal=money(2500),
        weight_grams=600,
        estimated_days_min=1,
        estimated_days_max=1,
    )


def test_a_new_quote_changes_method_address_and_total_with_a_note() -> None:
    requote = Requote(quote=_quote(1200), address=order().shipping_address, total=money(3700))
    decision = checkout.decide_requote(order(), requote, read_version=3, actor=SHOPPER)

    assert decision.target is None and decision.cause is Cause.UPDATED
    assert decision.changes["shipping_method_id"] == "express"
    assert (decision.changes["shipping_amount"], decision.changes["total_amount"]) == (1200, 3700)
    assert decision.note == "shipping changed to Express; total 29.90 EUR -> 37.00 EUR"
    assert decision.events == ()


def test_a_quote_is_refused_once_paid_or_if_the_order_changed_meanwhile() -> None:
    requote = Requote(quote=_quote(1200), address=order().shipping_address, total=money(3700))
    with pytest.raises(OrderNotEditable) as paid:
        checkout.decide_requote(order(Status.PAID), requote, read_version=3, actor=SHOPPER)
    assert paid.value.slug == "order-not-editable"
    with pytest.raises(OrderChanged) as changed:
        checkout.decide_requote(order(version=4), requote, read_version=3, actor=SHOPPER)
    assert changed.value.slug == "order-changed" and status_of(changed.value) == 409


def test_a_quote_request_caps_absurd_weights() -> None:
    heavy = order().lines[0].model_copy(update={"weight_grams": 5_000_000})
    request = checkout.quote_request("standard", order().shipping_address, [heavy])
    assert request.lines[0].weight_grams == 1_000_000
