"""`GET /orders/{id}` answers from the rows (`order_reads`) the bytes the ORM path gave.

Each answer is compared byte for byte with what the former path produced: the order and
its history loaded in a session (`loads.load`, `loads.public`), serialized as FastAPI
serializes a returned model (pydantic's JSON of it, by alias).
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import TypeAdapter

from shopfleet.orders.models import ORDERS, OrderPublic
from shopfleet.orders.store import loads
from tests.integration.orders.conftest import (
    ADDRESS,
    SHOP,
    Checkout,
    payment_refunded,
    shipment,
)
from tests.support.http import bearer


async def orm_answer(checkout: Checkout, order_id: str) -> bytes:
    async with checkout.service.db.reader() as session:
        order = await loads.load(session, SHOP, order_id)
        assert order is not None
        public = await loads.public(session, order)
    return TypeAdapter(OrderPublic).dump_json(public, by_alias=True)


async def assert_same_answer(checkout: Checkout, order_id: str, *who: dict[str, str]) -> None:
    for headers in who:
        answer = await checkout.get(headers, order_id)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.content == await orm_answer(checkout, order_id)


async def test_an_order_reads_as_the_orm_path_wrote_it(checkout: Checkout) -> None:
    mug = await checkout.product(price=1299, name='Blue "Mug" ☕ — grün \\ / <b>')
    tea = await checkout.product(price=450)
    shopper = checkout.user()
    rich_address = ADDRESS | {
        "name": "Zoë Ünïcødé",
        "line2": "Flat 2",
        "region": "Greater London",
        "phone": "+44 20 7946 0000",
    }
    order = await checkout.placed(shopper, {mug: 2, tea: 1}, address=rich_address)
    await assert_same_answer(checkout, order["id"], shopper, checkout.admin)

    await checkout.paid(order)  # paid_at, payment id, no expiry
    await checkout.deliver("shipment.created", shipment(order))  # a history note
    await checkout.deliver("payment.refunded", payment_refunded(order, 100, 100, False))
    await assert_same_answer(checkout, order["id"], shopper, checkout.admin)

    other = checkout.user()
    plain = await checkout.placed(other, {tea: 3}, method="express")
    cancelled = await checkout.cancel(other, plain["id"], 'changed my mind — "sorry"')
    assert cancelled.status_code == 200, cancelled.text
    await assert_same_answer(checkout, plain["id"], other, checkout.admin)


async def test_a_row_written_before_a_field_existed_reads_through_the_model(
    checkout: Checkout,
) -> None:
    """Lines stored without `weight_grams` (an older row): the model's default is shown."""
    mug = await checkout.product()
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 1})
    old_lines = [{k: v for k, v in line.items() if k != "weight_grams"} for line in order["lines"]]
    async with checkout.service.db.session() as session, session.begin():
        by_id = ORDERS.c.id == order["id"]
        await session.execute(sa.update(ORDERS).where(by_id).values(lines=old_lines))
    await assert_same_answer(checkout, order["id"], shopper)
    assert (await checkout.order(order["id"]))["lines"][0]["weight_grams"] == 0


async def test_others_orders_and_other_shops_are_still_a_404(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    assert (await checkout.get(checkout.user(), order["id"])).status_code == 404
    other_admin = bearer(checkout.mint.token(shop="bolt", roles=["Admin"], sub="admin-2"))
    assert (await checkout.get(other_admin, order["id"], shop="bolt")).status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (await checkout.get(checkout.admin, unknown)).status_code == 404
