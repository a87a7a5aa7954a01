"""The catalog's rules with no database: availability, reservations' moves, products'
slugs, currency, quota, stock and image limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from shopfleet.catalog import domain
from shopfleet.catalog.domain import (
    COMMIT,
    RESERVE,
    RESTOCK,
    UNRESERVE,
    ReservationStatus,
)
from shopfleet.kit.errors import problem_for
from shopfleet.kit.refusals import InvalidRefusal


@dataclass
class Stock:
    on_hand: int
    reserved: int
    active: bool = True
    deleted_at: datetime | None = None


# ----------------------------------------------------------------------------- availability


def test_a_deleted_or_inactive_product_is_not_available() -> None:
    assert domain.available(Stock(5, 2)) == 3
    assert domain.available(Stock(5, 2, active=False)) == 0
    assert domain.available(Stock(5, 2, deleted_at=datetime(2026, 1, 1, tzinfo=UTC))) == 0
    assert domain.available(Stock(2, 5)) == 0  # never negative


def test_on_hand_cannot_go_below_what_is_reserved() -> None:
    domain.check_on_hand(3, 3)
    with pytest.raises(domain.StockBelowReserved) as refused:
        domain.check_on_hand(2, 3)
    problem = problem_for(refused.value)
    assert (problem.status, problem.slug) == (409, "stock-below-reserved")
    assert problem.extra["errors"] == [
        {"field": "body.on_hand", "message": "must be at least 3", "type": "conflict"}
    ]


# ----------------------------------------------------------------------------- reservations


def test_lines_are_merged_per_product_in_id_order() -> None:
    lines = [
        {"product_id": "b", "quantity": 1},
        {"product_id": "a", "quantity": 2},
        {"product_id": "b", "quantity": 3},
    ]
    assert domain.merged(lines) == [("a", 2), ("b", 4)]


def test_the_same_order_id_may_ask_again_only_for_the_same_lines() -> None:
    held = [{"product_id": "a", "quantity": 1}, {"product_id": "a", "quantity": 1}]
    domain.check_same_lines("o1", "reserved", held, [("a", 2)])
    with pytest.raises(domain.ReservationMismatch, match="reserves once") as refused:
        domain.check_same_lines("o1", "reserved", held, [("a", 3)])
    assert problem_for(refused.value).status == 409


def test_only_a_reserved_reservation_commits_and_committing_again_changes_nothing() -> None:
    assert domain.decide_commit("o1", ReservationStatus.RESERVED) == COMMIT
    assert domain.decide_commit("o1", ReservationStatus.COMMITTED) is None
    for status in (ReservationStatus.RELEASED, ReservationStatus.REJECTED):
        with pytest.raises(domain.ReservationNotReserved) as refused:
            domain.decide_commit("o1", status)
        assert refused.value.slug == f"reservation-{status}"
        assert problem_for(refused.value).status == 409


def test_release_frees_reserved_units_and_restocks_paid_ones() -> None:
    assert domain.decide_release(ReservationStatus.RESERVED) == UNRESERVE
    assert domain.decide_release(ReservationStatus.COMMITTED) == RESTOCK
    assert domain.decide_release(ReservationStatus.RELEASED) is None
    assert domain.decide_release(ReservationStatus.REJECTED) is None


@pytest.mark.parametrize(
    ("move", "after", "before"),
    [
        (RESERVE, 7, 10),  # reserving 3 took 3 from what was available
        (UNRESERVE, 10, 7),  # freeing 3 gave them back
        (COMMIT, 7, 7),  # paid units leave on-hand and reserved alike
        (RESTOCK, 10, 7),  # a paid order's units back on hand
    ],
)
def test_availability_before_a_move(move: domain.StockMove, after: int, before: int) -> None:
    assert move.available_before(after, 3) == before


def test_shortages_say_what_was_asked_and_what_is_there() -> None:
    short = [("a", 5), ("gone", 1)]
    assert domain.shortages(short, {"a": 2}) == [
        {"product_id": "a", "requested": 5, "available": 2},
        {"product_id": "gone", "requested": 1, "available": 0},
    ]


# ----------------------------------------------------------------------------- products


def test_a_free_slug_counts_up_past_the_taken_ones() -> None:
    assert domain.free_slug("mug", set()) == "mug"
    assert domain.free_slug("mug", {"mug", "mug-2"}) == "mug-3"
    assert domain.free_slug("mug", {"mug-2"}) == "mug"


def test_a_price_in_another_currency_is_refused_naming_the_field() -> None:
    domain.check_currency("body.currency", "EUR", None)
    domain.check_currency("body.currency", "EUR", "EUR")
    with pytest.raises(InvalidRefusal) as refused:
        domain.check_currency("body.currency", "EUR", "USD")
    assert refused.value.field == "body.currency"
    assert refused.value.message == "this shop sells in EUR, not USD"


def test_a_taken_slug_is_a_conflict_named_after_the_field() -> None:
    problem = problem_for(domain.ValueTaken("body.slug", "mug"))
    assert (problem.status, problem.slug) == (409, "slug-taken")
    assert problem.detail == (
        "Fix this field: body.slug: another product of this shop has the slug 'mug'; "
        "choose another."
    )


def test_the_products_quota_refuses_the_product_past_the_limit() -> None:
    domain.check_products_quota(2, 3)
    domain.check_products_quota(10**6, None)  # no quota
    with pytest.raises(domain.ProductsQuotaExceeded) as refused:
        domain.check_products_quota(3, 3)
    problem = problem_for(refused.value)
    assert (problem.status, problem.slug) == (409, "quota-exceeded")
    assert problem.extra == {"quota": "products", "limit": 3, "used": 3}
    assert problem.headers == {}


def test_unknown_categories_are_named() -> None:
    domain.check_categories_known([])
    with pytest.raises(InvalidRefusal, match="unknown category 'x', 'y'"):
        domain.check_categories_known(["x", "y"])


def test_only_changed_fields_count_as_a_change() -> None:
    product = Stock(on_hand=5, reserved=0)
    assert domain.changed_fields(product, {"on_hand": 5, "reserved": 1}) == {"reserved": 1}
    assert domain.changed_fields(product, {"on_hand": 5}) == {}


def test_image_room_and_price_range() -> None:
    domain.check_image_room(19, 20)
    with pytest.raises(domain.TooManyImages):
        domain.check_image_room(20, 20)
    domain.check_price_range(1, 1)
    domain.check_price_range(None, 1)
    with pytest.raises(InvalidRefusal, match="must not be below min_price"):
        domain.check_price_range(2, 1)
