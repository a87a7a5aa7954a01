"""The cart's side of the checkout: orders' events change carts, once per event; orders
reads a shopper's cart lines through the internal route. On each state store adapter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery
from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLines
from shopfleet.kit.contracts.events import ORDER_CANCELLED, ORDER_PLACED
from tests.integration.cart.conftest import OTHER_SHOP, SHOP, CartClient, FakeCatalog, user_id
from tests.support.problems import assert_problem

Tab = Callable[..., CartClient]


def _money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def _lines(quantities: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"product_id": pid, "name": "P", "sku": "SKU", "quantity": qty, "unit_price": _money(500)}
        for pid, qty in quantities.items()
    ]


def placed(user: str, quantities: dict[str, int], *, order_id: str | None = None) -> CloudEvent:
    now = datetime.now(UTC).isoformat()
    data = {
        "order_id": order_id or str(uuid.uuid4()),
        "user_id": user,
        "lines": _lines(quantities),
        "subtotal": _money(1000),
        "shipping": _money(0),
        "total": _money(1000),
        "shipping_method_id": "standard",
        "placed_at": now,
    }
    return CloudEvent(id=str(uuid.uuid4()), topic=ORDER_PLACED, data=data, shop=SHOP)


def cancelled(
    user: str, order_id: str, quantities: dict[str, int], status: str = "cancelled"
) -> CloudEvent:
    data = {
        "order_id": order_id,
        "user_id": user,
        "status": status,
        "cause": "payment_failed" if status == "payment_failed" else "user",
        "reason": "changed my mind",
        "was_paid": False,
        "lines": _lines(quantities),
        "total": _money(1000),
        "cancelled_at": datetime.now(UTC).isoformat(),
    }
    return CloudEvent(id=str(uuid.uuid4()), topic=ORDER_CANCELLED, data=data, shop=SHOP)


def signed_in(tab: Tab) -> tuple[str, CartClient]:
    """A new user's id and a signed-in tab of theirs."""
    user = user_id()
    return user, tab(user=user)


async def deliver(blocks: Blocks, event: CloudEvent) -> Delivery:
    return await blocks.pubsub.subscriptions[event.topic].handler(event)  # type: ignore[attr-defined]


async def test_order_placed_takes_the_ordered_units_out_once(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug, pen, cap = catalog.add("Mug"), catalog.add("Pen"), catalog.add("Cap")
    user, me = signed_in(tab)
    await me.add(mug, 3)
    await me.add(pen, 1)
    event = placed(user, {mug: 2, pen: 1})

    assert await deliver(blocks, event) == Delivery.SUCCESS
    assert await me.quantities() == {mug: 1}  # the unit beyond the order stays

    await me.add(cap, 2)  # added after ordering
    assert await deliver(blocks, event) == Delivery.SUCCESS  # redelivered
    assert await deliver(blocks, event) == Delivery.SUCCESS
    assert await me.quantities() == {mug: 1, cap: 2}  # nothing taken twice


async def test_order_placed_without_a_cart_changes_nothing_then_or_later(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug = catalog.add("Mug")
    user, me = signed_in(tab)
    event = placed(user, {mug: 1})
    assert await deliver(blocks, event) == Delivery.SUCCESS
    assert await me.quantities() == {}
    await me.add(mug, 1)  # the shopper starts a new cart: a redelivery leaves it alone
    assert await deliver(blocks, event) == Delivery.SUCCESS
    assert await me.quantities() == {mug: 1}


async def test_order_placed_only_touches_its_shoppers_cart(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug = catalog.add("Mug")
    (buyer_id, buyer), (_, other) = signed_in(tab), signed_in(tab)
    await buyer.add(mug, 2)
    await other.add(mug, 2)
    assert await deliver(blocks, placed(buyer_id, {mug: 2})) == Delivery.SUCCESS
    assert await buyer.quantities() == {}
    assert await other.quantities() == {mug: 2}


async def test_order_placed_racing_cart_edits_loses_no_update(
    tab: Tab, replica_tab: Callable[..., CartClient], catalog: FakeCatalog, blocks: Blocks
) -> None:
    """The event's write and the shopper's writes (on two replicas) race on the cart's
    ETag: every add lands, the ordered units go exactly once, duplicates change nothing."""
    ordered, extra = catalog.add("Ordered"), catalog.add("Extra")
    user = user_id()
    me, me_elsewhere = tab(user=user), replica_tab(user=user)
    await me.add(ordered, 5)
    event = placed(user, {ordered: 5})

    answers = await asyncio.gather(
        *(deliver(blocks, event) for _ in range(3)),
        *(me.add(extra, 1) for _ in range(4)),
        *(me_elsewhere.add(extra, 1) for _ in range(4)),
    )
    assert answers[:3] == [Delivery.SUCCESS] * 3
    assert all(answer.status_code == 200 for answer in answers[3:]), [
        a.text for a in answers[3:] if a.status_code != 200
    ]
    assert await me.quantities() == {extra: 8}


async def test_cancelled_order_lines_can_be_put_back_once(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug, pen = catalog.add("Mug"), catalog.add("Pen")
    user, me = signed_in(tab)
    await me.add(mug, 2)
    await me.add(pen, 1)
    order_id = str(uuid.uuid4())
    assert await deliver(blocks, placed(user, {mug: 2, pen: 1}, order_id=order_id)) == (
        Delivery.SUCCESS
    )
    assert await me.quantities() == {}
    event = cancelled(user, order_id, {mug: 2, pen: 1})
    assert await deliver(blocks, event) == Delivery.SUCCESS

    restored = await me.restore({"order_id": order_id})
    assert restored.status_code == 200, restored.text
    assert await me.quantities() == {mug: 2, pen: 1}

    # A redelivery after the shopper put the lines back does not offer them again.
    assert await deliver(blocks, event) == Delivery.SUCCESS
    assert_problem(await me.restore({"order_id": order_id}), 404, "body.order_id")
    assert await me.quantities() == {mug: 2, pen: 1}


async def test_a_failed_payment_keeps_the_lines_too(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug = catalog.add("Mug")
    (user, me), (_, other) = signed_in(tab), signed_in(tab)
    order_id = str(uuid.uuid4())
    event = cancelled(user, order_id, {mug: 3}, status="payment_failed")
    assert await deliver(blocks, event) == Delivery.SUCCESS
    # Only the order's shopper can put them back.
    assert_problem(await other.restore({"order_id": order_id}), 404, "body.order_id")
    restored = await me.restore({"order_id": order_id})
    assert restored.status_code == 200, restored.text
    assert await me.quantities() == {mug: 3}


async def test_an_event_that_breaks_its_contract_is_dropped(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug = catalog.add("Mug")
    user, me = signed_in(tab)
    await me.add(mug, 1)
    event = placed(user, {mug: 1})
    broken = CloudEvent(id=event.id, topic=ORDER_PLACED, data={"order_id": "x"}, shop=SHOP)
    assert await deliver(blocks, broken) == Delivery.DROP
    bad_id = cancelled(user, "not/an/id", {mug: 1})
    assert await deliver(blocks, bad_id) == Delivery.DROP
    assert await me.quantities() == {mug: 1}


async def test_orders_reads_a_shoppers_cart_lines(
    tab: Tab, catalog: FakeCatalog, http: httpx.AsyncClient
) -> None:
    mug, pen = catalog.add("Mug"), catalog.add("Pen")
    user, me = signed_in(tab)
    await me.add(mug, 2)
    await me.add(pen, 1)

    def path(shop: str, user: str) -> str:
        return CART_LINES_PATH.format(shop=shop, user_id=user)

    answer = await http.get(path(SHOP, user))
    assert answer.status_code == 200, answer.text
    lines = CartLines.model_validate(answer.json())
    assert lines.user_id == user
    assert {line.product_id: line.quantity for line in lines.lines} == {mug: 2, pen: 1}
    # The cart's version (orders lets one version become one open order): same until a write.
    assert lines.version and (await http.get(path(SHOP, user))).json()["version"] == lines.version
    await me.add(pen, 1)
    assert (await http.get(path(SHOP, user))).json()["version"] not in (None, lines.version)

    nobody = await http.get(path(SHOP, user_id()))
    assert nobody.status_code == 200 and nobody.json()["lines"] == []
    assert nobody.json()["version"] is None
    elsewhere = await http.get(path(OTHER_SHOP, user))  # carts are per shop
    assert elsewhere.status_code == 200 and elsewhere.json()["lines"] == []
    assert_problem(await http.get(path(SHOP, "a:b")), 422)


async def test_a_cart_an_order_emptied_answers_orders_as_that_order_read_it(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks, http: httpx.AsyncClient
) -> None:
    """A late duplicate of an order reads the cart that order read (lines, version) and
    the order's id, not an empty cart, until the shopper writes to the cart."""
    mug, pen = catalog.add("Mug"), catalog.add("Pen")
    user, me = signed_in(tab)
    await me.add(mug, 2)
    await me.add(pen, 1)
    path = CART_LINES_PATH.format(shop=SHOP, user_id=user)
    read = CartLines.model_validate((await http.get(path)).json())
    assert read.ordered_by is None
    order_id = str(uuid.uuid4())

    assert await deliver(blocks, placed(user, {mug: 2, pen: 1}, order_id=order_id)) == (
        Delivery.SUCCESS
    )

    assert await me.quantities() == {}  # the shopper sees the cart emptied
    again = CartLines.model_validate((await http.get(path)).json())
    assert again.ordered_by == order_id
    assert again.version == read.version and again.lines == read.lines
    await me.add(pen, 1)  # the shopper's write: a new cart to order
    after = CartLines.model_validate((await http.get(path)).json())
    assert after.ordered_by is None and after.version not in (None, read.version)
    assert [(line.product_id, line.quantity) for line in after.lines] == [(pen, 1)]


async def test_an_order_that_leaves_lines_in_the_cart_is_not_remembered(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks, http: httpx.AsyncClient
) -> None:
    mug = catalog.add("Mug")
    user, me = signed_in(tab)
    await me.add(mug, 3)
    assert await deliver(blocks, placed(user, {mug: 2})) == Delivery.SUCCESS
    left = CartLines.model_validate(
        (await http.get(CART_LINES_PATH.format(shop=SHOP, user_id=user))).json()
    )
    assert left.ordered_by is None
    assert [(line.product_id, line.quantity) for line in left.lines] == [(mug, 1)]
