"""Who may read or list orders, what payments reads, list cursors; the statuses on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

import pytest

from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.refusals import status_of
from shopfleet.orders.domain import access
from shopfleet.orders.domain.access import Caller, OrderHeadline
from shopfleet.orders.domain.order import Cause, Decision, Status, public_status
from shopfleet.orders.domain.refusals import OrderNotFound, OthersOrdersForbidden
from tests.unit.orders.records import ADMIN, NOW, SHOPPER, order

SHOPPER_CALLS = Caller(user_id=SHOPPER, is_admin=False)


def test_a_shopper_sees_their_own_orders_and_an_admin_every_order() -> None:
    mine = order()
    assert access.visible(mine, SHOPPER_CALLS, mine.id) is mine
    assert access.visible(mine, Caller(user_id=ADMIN, is_admin=True), mine.id) is mine


def test_another_shoppers_order_is_not_found_rather_than_forbidden() -> None:
    theirs = order(user_id="user-2")
    for found in (theirs, None):
        with pytest.raises(OrderNotFound) as refused:
            access.visible(found, SHOPPER_CALLS, theirs.id)
        assert status_of(refused.value) == 404
        assert refused.value.detail == f"You have no order '{theirs.id}' in this shop."


def test_only_an_admin_lists_other_users_orders() -> None:
    assert access.listed_user(SHOPPER_CALLS, None) == SHOPPER
    assert access.listed_user(SHOPPER_CALLS, SHOPPER) == SHOPPER
    with pytest.raises(OthersOrdersForbidden) as refused:
        access.listed_user(SHOPPER_CALLS, "user-2")
    assert status_of(refused.value) == 403 and refused.value.slug == "forbidden"
    admin = Caller(user_id=ADMIN, is_admin=True)
    assert access.listed_user(admin, None) is None
    assert access.listed_user(admin, "user-2") == "user-2"


def _headline(status: Status) -> OrderHeadline:
    placed = order(status)
    return OrderHeadline(
        id=placed.id,
        user_id=placed.user_id,
        status=status,
        total=placed.total,
        placed_at=placed.created_at,
        expires_at=placed.expires_at,
    )


def test_payments_reads_the_expiry_only_while_the_order_awaits_payment() -> None:
    unpaid = access.summary_for_payments(_headline(Status.PENDING_PAYMENT), "acme", order().id)
    assert unpaid.status == "pending_payment" and unpaid.expires_at == order().expires_at
    assert unpaid.total.amount == 2990 and unpaid.placed_at == order().created_at
    paid = access.summary_for_payments(_headline(Status.PAID), "acme", order().id)
    assert paid.expires_at is None
    with pytest.raises(OrderNotFound) as refused:
        access.summary_for_payments(None, "acme", "o1")
    assert refused.value.detail == "No order 'o1' in shop 'acme'."


def test_the_statuses_are_the_contracts_plus_the_internal_placing() -> None:
    contract = set(get_args(OrderStatus))
    assert {status.value for status in Status} == contract | {"placing"}
    assert [public_status(status) for status in Status if status != Status.PLACING] == [
        status.value for status in Status if status != Status.PLACING
    ]


def test_a_note_alone_leaves_the_order_as_it_was() -> None:
    noted = Decision(cause=Cause.PAYMENT_DUPLICATE, note="refund it")
    assert noted.applied_to(order(), NOW) == order()
    changed = Decision(cause=Cause.PAYMENT_REFUNDED, changes={"refunded_amount": 100})
    after = changed.applied_to(order(), datetime(2025, 3, 15, tzinfo=NOW.tzinfo))
    assert (after.refunded_amount, after.version, after.status) == (100, 4, Status.PENDING_PAYMENT)
