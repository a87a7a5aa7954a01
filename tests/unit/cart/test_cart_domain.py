"""The cart's pure rules: lines, limits, removed lines, merging, views, If-Match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shopfleet.cart.domain.checkout import restore_order
from shopfleet.cart.domain.lines import add_line, put_back, set_quantity
from shopfleet.cart.domain.removed import (
    clear_lines,
    merge_carts,
    remember_removed,
    remove_line,
    restore_removed,
)
from shopfleet.cart.etags import IfMatch
from shopfleet.cart.models import (
    MAX_LINES,
    MAX_QUANTITY,
    MAX_REMOVED,
    AddItem,
    RemovedLine,
    RestoreRequest,
    StoredCart,
    StoredLine,
    StoredOrderLines,
    StoredRemoved,
    UpdateItem,
)
from shopfleet.cart.shopper import Shopper
from shopfleet.cart.views import render_cart
from shopfleet.kit.contracts.catalog import ProductSnapshot
from shopfleet.kit.errors import problem_for
from shopfleet.kit.money import Money
from shopfleet.kit.refusals import Refusal, status_of

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def snap(
    pid: str, *, price: int = 1000, available: int = 10, active: bool = True
) -> ProductSnapshot:
    return ProductSnapshot(
        id=pid,
        name=pid.upper(),
        slug=pid,
        sku=pid,
        price=eur(price),
        available=available,
        active=active,
    )


def line(pid: str, quantity: int = 1, price: int | None = 1000) -> StoredLine:
    return StoredLine(
        product_id=pid,
        quantity=quantity,
        price_at_add=eur(price) if price is not None else None,
        added_at=NOW,
    )


def cart(*lines: StoredLine) -> StoredCart:
    return StoredCart(lines=list(lines))


def quantities(c: StoredCart) -> dict[str, int]:
    return {x.product_id: x.quantity for x in c.lines}


def problem(excinfo: pytest.ExceptionInfo[Refusal]) -> tuple[int, str, list[str]]:
    """The refusal as it is answered: status, slug and the fields its errors name."""
    exc = problem_for(excinfo.value)
    return exc.status, exc.slug, [e["field"] for e in exc.extra.get("errors", [])]


# ----------------------------------------------------------------------------- add / set


def test_add_creates_then_grows_a_line_at_todays_price() -> None:
    c = add_line(cart(), "a", 2, snap("a", price=500), NOW)
    assert quantities(c) == {"a": 2} and c.lines[0].price_at_add == eur(500)
    later = NOW + timedelta(hours=1)
    c = add_line(c, "a", 3, snap("a", price=700), later)
    assert quantities(c) == {"a": 5}
    assert c.lines[0].price_at_add == eur(700) and c.lines[0].added_at == NOW


@pytest.mark.parametrize(
    ("snapshot", "status", "slug", "field"),
    [
        (None, 422, "unknown-product", "body.product_id"),
        (snap("a", active=False), 422, "unknown-product", "body.product_id"),
        (snap("a", available=3), 409, "insufficient-stock", "body.quantity"),
        (snap("a", available=0), 409, "insufficient-stock", "body.quantity"),
    ],
)
def test_add_refuses(snapshot: ProductSnapshot | None, status: int, slug: str, field: str) -> None:
    with pytest.raises(Refusal) as excinfo:
        add_line(cart(line("a", 2)), "a", 2, snapshot, NOW)
    assert problem(excinfo) == (status, slug, [field])


def test_add_respects_the_line_and_cart_limits() -> None:
    with pytest.raises(Refusal) as excinfo:
        add_line(cart(line("a", MAX_QUANTITY - 1)), "a", 2, snap("a", available=1000), NOW)
    assert problem(excinfo)[:2] == (409, "line-quantity-limit")
    full = cart(*(line(f"p{n}") for n in range(MAX_LINES)))
    with pytest.raises(Refusal) as excinfo:
        add_line(full, "new", 1, snap("new"), NOW)
    assert problem(excinfo)[:2] == (409, "cart-full")
    assert quantities(add_line(full, "p0", 1, snap("p0"), NOW))["p0"] == 2  # an existing line


def test_set_quantity() -> None:
    c = cart(line("a", 2, price=900))
    assert quantities(set_quantity(c, "a", 5, snap("a"))) == {"a": 5}
    assert set_quantity(c, "a", 5, snap("a")).lines[0].price_at_add == eur(900)
    for pid, snapshot, status in [
        ("b", snap("b"), 404),
        ("a", None, 409),
        ("a", snap("a", available=4), 409),
    ]:
        with pytest.raises(Refusal) as excinfo:
            set_quantity(c, pid, 5, snapshot)
        assert status_of(excinfo.value) == status


# ----------------------------------------------------------------------------- removed


def test_remove_and_clear_keep_removed_lines_newest_first() -> None:
    c = cart(line("a"), line("b", 2), line("c"))
    c, removed = remove_line(c, StoredRemoved(), "b", NOW)
    assert quantities(c) == {"a": 1, "c": 1}
    assert [(x.product_id, x.quantity) for x in removed.lines] == [("b", 2)]
    later = NOW + timedelta(minutes=1)
    c, removed = clear_lines(c, removed, later)
    assert c.lines == [] and [x.product_id for x in removed.lines] == ["a", "c", "b"]
    with pytest.raises(Refusal) as excinfo:
        remove_line(c, removed, "a", NOW)
    assert problem(excinfo) == (404, "not-in-cart", ["path.product_id"])


def test_removed_lines_keep_one_entry_per_product_and_the_newest_50() -> None:
    removed = StoredRemoved()
    for n in range(MAX_REMOVED + 10):
        removed = remember_removed(removed, [line(f"p{n}")], NOW + timedelta(seconds=n))
    assert len(removed.lines) == MAX_REMOVED and removed.lines[0].product_id == "p59"
    removed = remember_removed(removed, [line("p30", 7)], NOW + timedelta(days=1))
    assert [x.product_id for x in removed.lines].count("p30") == 1
    assert removed.lines[0].product_id == "p30" and removed.lines[0].quantity == 7


def test_restore_removed_is_all_or_nothing() -> None:
    removed = remember_removed(StoredRemoved(), [line("a", 2), line("b")], NOW)
    c, left = restore_removed(cart(line("a", 98)), removed, ["a"])
    assert quantities(c) == {"a": MAX_QUANTITY}  # summed, capped
    assert [x.product_id for x in left.lines] == ["b"]
    with pytest.raises(Refusal) as excinfo:
        restore_removed(cart(), removed, ["a", "zzz"])
    assert problem(excinfo) == (404, "not-removed", ["body.product_ids"])
    assert excinfo.value.extra["missing"] == ["zzz"]
    almost_full = cart(*(line(f"p{n}") for n in range(MAX_LINES - 1)))
    with pytest.raises(Refusal) as excinfo:
        restore_removed(almost_full, removed, None)
    assert problem(excinfo)[:2] == (409, "cart-full")
    c, left = restore_removed(cart(), removed, None)
    assert quantities(c) == {"a": 2, "b": 1} and left.lines == []


def test_put_back_caps_quantities_and_returns_what_found_no_room() -> None:
    full = cart(*(line(f"p{n}") for n in range(MAX_LINES)))
    merged, leftovers = put_back(full, [line("p0", 200), line("new", 1)])
    assert quantities(merged)["p0"] == MAX_QUANTITY
    assert [x.product_id for x in leftovers] == ["new"]


def test_restore_order_prices_lines_and_parks_what_does_not_fit() -> None:
    full = cart(line("a0"), *(line(f"p{n}") for n in range(MAX_LINES - 1)))
    order = StoredOrderLines.model_validate(
        {
            "order_id": "o1",
            "saved_at": NOW,
            "lines": [
                {"product_id": "a0", "quantity": 500},
                {
                    "product_id": "bee",
                    "quantity": 1,
                    "unit_price": {"amount": 5, "currency": "EUR"},
                },
            ],
        }
    )
    c, removed = restore_order(full, StoredRemoved(), order, {"a0": snap("a0")}, NOW)
    assert quantities(c)["a0"] == MAX_QUANTITY and "bee" not in quantities(c)
    assert [(x.product_id, x.price_at_add) for x in removed.lines] == [("bee", eur(5))]


def test_merge_sums_lines_and_keeps_the_newest_removed_entry() -> None:
    mine = cart(line("a", 98), line("b"))
    theirs = cart(line("a", 5), line("c", 3))
    my_removed = StoredRemoved(
        lines=[RemovedLine(product_id="x", quantity=1, added_at=NOW, removed_at=NOW)]
    )
    their_removed = StoredRemoved(
        lines=[
            RemovedLine(product_id="x", quantity=4, added_at=NOW, removed_at=NOW + timedelta(1)),
            RemovedLine(product_id="y", quantity=1, added_at=NOW, removed_at=NOW - timedelta(1)),
        ]
    )
    c, removed = merge_carts(mine, my_removed, theirs, their_removed, NOW)
    assert quantities(c) == {"a": MAX_QUANTITY, "b": 1, "c": 3}
    assert [(x.product_id, x.quantity) for x in removed.lines] == [("x", 4), ("y", 1)]


# ----------------------------------------------------------------------------- views


def test_render_flags_and_subtotal() -> None:
    c = cart(
        line("ok", 2, price=1000),
        line("pricey", 1, price=1000),
        line("short", 5),
        line("none", 1),
        line("gone", 1),
        line("off", 1),
    )
    snaps = {
        "ok": snap("ok", price=1000),
        "pricey": snap("pricey", price=1500),
        "short": snap("short", available=2),
        "none": snap("none", available=0),
        "off": snap("off", active=False),
    }
    view = render_cart(c, snaps, owner="user", cart_id=None, expires_at=None)
    lines = {x.product_id: x for x in view.lines}
    assert lines["pricey"].price_changed and not lines["ok"].price_changed
    assert lines["short"].insufficient_stock and lines["short"].available == 2
    assert lines["none"].out_of_stock and not lines["none"].insufficient_stock
    assert lines["gone"].unavailable and lines["gone"].line_total is None
    assert lines["off"].unavailable and lines["off"].available == 0
    assert view.subtotal == eur(2000 + 1500)
    assert view.item_count == 11 and view.line_count == 6
    assert view.ready_for_checkout is False
    empty = render_cart(cart(), {}, owner="anonymous", cart_id="id", expires_at=None)
    assert empty.subtotal is None and empty.ready_for_checkout is False


def test_a_huge_line_total_is_no_error() -> None:
    c = cart(line("a", MAX_QUANTITY, price=10**13))
    view = render_cart(
        c,
        {"a": snap("a", price=10**13, available=1000)},
        owner="user",
        cart_id=None,
        expires_at=None,
    )
    assert view.lines[0].line_total is not None
    assert view.lines[0].line_total.amount == 10**13 * MAX_QUANTITY


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("quantity", [0, -1, 100, 10**9, True, "x", 1.5])
def test_quantity_bounds(quantity: object) -> None:
    with pytest.raises(ValidationError):
        AddItem.model_validate({"product_id": "abc", "quantity": quantity})
    with pytest.raises(ValidationError):
        UpdateItem.model_validate({"quantity": quantity})


def test_restore_request_takes_one_source() -> None:
    assert RestoreRequest().product_ids is None
    with pytest.raises(ValidationError):
        RestoreRequest.model_validate({"product_ids": ["a"], "order_id": "o"})
    with pytest.raises(ValidationError):
        RestoreRequest.model_validate({"product_ids": ["a", "a"]})


def test_if_match_parsing() -> None:
    assert IfMatch.parse(None) is None
    assert IfMatch.parse("*").matches("anything")  # type: ignore[union-attr]
    assert not IfMatch.parse("*").matches(None)  # type: ignore[union-attr]
    parsed = IfMatch.parse('"a", "b" ,W/"c"')
    assert parsed is not None
    assert parsed.matches("a") and parsed.matches("b") and not parsed.matches("c")
    assert not IfMatch.parse("").matches("a")  # type: ignore[union-attr]


def test_shopper_cart_refs() -> None:
    assert Shopper("s").cart is None
    assert Shopper("s", cart_id="ID").cart.key == "cart:s:a:id"  # type: ignore[union-attr]
    signed_in = Shopper("s", user_id="u", cart_id="id")
    assert signed_in.cart.key == "cart:s:u:u"  # type: ignore[union-attr]
    assert signed_in.merges.key == "cart:s:a:id"  # type: ignore[union-attr]
