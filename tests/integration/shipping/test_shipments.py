"""Shipments: one per paid order (whatever the broker redelivers), moved on by admins with
events, cancelled with their order until they leave; shoppers see only their own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shopfleet.kit.blocks import Delivery
from shopfleet.kit.cursors import pack_cursor


async def test_order_paid_delivered_again_makes_one_shipment(shipping: Any) -> None:
    await shipping.method()
    paid = shipping.order_paid("order-1")
    assert await shipping.deliver(paid) == Delivery.SUCCESS
    assert await shipping.deliver(paid) == Delivery.SUCCESS  # the same event again
    # orders emitting the same fact twice (another event id) changes nothing either
    assert await shipping.deliver(shipping.order_paid("order-1")) == Delivery.SUCCESS

    [shipment] = await shipping.shipments(shipping.admin)
    assert shipment["order_id"] == "order-1" and shipment["user_id"] == "user-ada"
    assert shipment["status"] == "pending" and shipment["method_id"] == "standard"
    assert shipment["carrier"] == "DHL"  # the method's
    assert shipment["address"]["postal_code"] == "10115"
    assert shipment["lines"] == [
        {
            "product_id": paid.data["lines"][0]["product_id"],
            "name": "Stoneware Mug",
            "sku": "MUG-1",
            "quantity": 2,
        },
    ]
    assert [(h["status"], h["cause"]) for h in shipment["history"]] == [("pending", "order.paid")]
    created = await shipping.pubsub.wait_for("shipment.created", order_id="order-1")
    assert len(created) == 1
    assert created[0].data["shipment_id"] == shipment["id"] and created[0].shop == "acme"

    # The same order id in another shop is another order.
    other = shipping.order_paid("order-1", shop=shipping.OTHER_SHOP)
    assert await shipping.deliver(other) == Delivery.SUCCESS
    assert len(await shipping.shipments(shipping.admin)) == 1


async def test_concurrent_order_paid_events_make_one_shipment(shipping: Any) -> None:
    """Two consumers (replicas) handling the same order's events at once."""
    events = [shipping.order_paid("order-c") for _ in range(6)]  # six event ids, one order
    answers = await asyncio.gather(*(shipping.deliver(event) for event in events))
    assert set(answers) == {Delivery.SUCCESS}
    assert len(await shipping.shipments(shipping.admin, order_id="order-c")) == 1
    await shipping.pubsub.wait_for("shipment.created", order_id="order-c")
    assert len(shipping.pubsub.topics("shipment.created")) == 1


async def test_shoppers_see_their_own_and_admins_all(shipping: Any) -> None:
    ada = await shipping.paid_shipment(user="user-ada")
    bob = await shipping.paid_shipment(user="user-bob")
    assert [s["id"] for s in await shipping.shipments(shipping.ada)] == [ada["id"]]
    # A shopper's `user` filter cannot reach anyone else's.
    assert [s["id"] for s in await shipping.shipments(shipping.ada, user="user-bob")] == [ada["id"]]
    assert {s["id"] for s in await shipping.shipments(shipping.admin)} == {ada["id"], bob["id"]}
    filtered = await shipping.shipments(shipping.admin, user="user-bob")
    assert [s["id"] for s in filtered] == [bob["id"]]

    mine = await shipping.http.get(shipping.api(f"/shipments/{ada['id']}"), headers=shipping.ada)
    assert mine.status_code == 200 and mine.json()["order_id"] == ada["order_id"]
    theirs = await shipping.http.get(shipping.api(f"/shipments/{bob['id']}"), headers=shipping.ada)
    shipping.assert_problem(theirs, 404)
    elsewhere = shipping.headers("admin-bolt", "Admin", shipping.OTHER_SHOP)
    for headers in (elsewhere, shipping.ada):
        answer = await shipping.http.get(
            shipping.api(f"/shipments/{bob['id']}", shipping.OTHER_SHOP), headers=headers
        )
        shipping.assert_problem(answer, 404)
    shipping.assert_problem(await shipping.http.get(shipping.api("/shipments")), 401)

    # Shoppers change nothing.
    for method, path, body in (
        ("PATCH", f"/shipments/{ada['id']}", {"status": "packed"}),
        ("DELETE", f"/shipments/{ada['id']}", None),
        ("POST", "/shipments", {}),
    ):
        answer = await shipping.http.request(
            method, shipping.api(path), json=body, headers=shipping.ada
        )
        shipping.assert_problem(answer, 403)


async def test_listing_pages_and_filters(shipping: Any) -> None:
    made = [await shipping.paid_shipment(order_id=f"order-{n}") for n in range(5)]
    await shipping.http.patch(
        shipping.api(f"/shipments/{made[1]['id']}"),
        json={"status": "packed"},
        headers=shipping.admin,
    )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = await shipping.http.get(
            shipping.api("/shipments"), params=params, headers=shipping.admin
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [s["id"] for s in reversed(made)]  # newest first, each once
    packed = await shipping.shipments(shipping.admin, status="packed")
    assert [s["id"] for s in packed] == [made[1]["id"]]
    by_order = await shipping.shipments(shipping.admin, order_id="order-3")
    assert [s["id"] for s in by_order] == [made[3]["id"]]

    for params, field in (
        ({"cursor": "garbage"}, "query.cursor"),
        ({"cursor": pack_cursor(["9999-12-31T23:59:59-12:00", "x"])}, "query.cursor"),
        ({"cursor": pack_cursor([1, 2, 3])}, "query.cursor"),
        ({"status": "lost"}, "query.status"),
        ({"limit": 0}, "query.limit"),
        ({"order_id": "no spaces"}, "query.order_id"),
    ):
        answer = await shipping.http.get(
            shipping.api("/shipments"), params=params, headers=shipping.admin
        )
        shipping.assert_problem(answer, 422 if field != "query.cursor" else 400, field)


async def test_admin_moves_a_shipment_on_and_each_step_is_an_event(shipping: Any) -> None:
    shipment = await shipping.paid_shipment()
    path = shipping.api(f"/shipments/{shipment['id']}")

    async def patch(**body: Any) -> Any:
        return await shipping.http.patch(path, json=body, headers=shipping.admin)

    assert (await patch(status="packed")).json()["status"] == "packed"
    shipped = await patch(status="shipped", carrier="DHL Express", tracking_number="JD0123")
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert (body["status"], body["carrier"], body["tracking_number"]) == (
        "shipped",
        "DHL Express",
        "JD0123",
    )
    # A tracking number alone is no status change: no event.
    assert (await patch(tracking_number="JD0124")).json()["tracking_number"] == "JD0124"
    assert (await patch(status="delivered")).json()["status"] == "delivered"

    events = await shipping.pubsub.wait_for(
        "shipment.status_changed", 3, shipment_id=shipment["id"]
    )
    assert [(e.data["previous"], e.data["status"]) for e in events] == [
        ("pending", "packed"),
        ("packed", "shipped"),
        ("shipped", "delivered"),
    ]
    assert events[1].data["tracking_number"] == "JD0123"
    assert events[2].data["tracking_number"] == "JD0124"
    assert {e.data["order_id"] for e in events} == {shipment["order_id"]}
    assert {e.data["user_id"] for e in events} == {"user-ada"}

    read = await shipping.http.get(path, headers=shipping.ada)
    history = read.json()["history"]
    assert [h["status"] for h in history] == ["pending", "packed", "shipped", "delivered"]
    assert {h["actor"] for h in history[1:]} == {"admin-1"}

    # Moves the rules forbid are 409s naming what is allowed; nothing changes.
    back = await patch(status="pending")
    problem = shipping.assert_problem(back, 409)
    assert problem["type"].endswith("/invalid-transition") and problem["allowed"] == ["returned"]
    shipping.assert_problem(await patch(status="teleported"), 422, "body.status")
    shipping.assert_problem(await patch(status=None), 422, "body.status")
    shipping.assert_problem(await patch(tracking_number=""), 422, "body.tracking_number")
    shipping.assert_problem(await patch(colour="red"), 422, "body.colour")
    assert (await shipping.http.get(path, headers=shipping.admin)).json()["version"] == 5
    missing = await shipping.http.patch(
        shipping.api(f"/shipments/{uuid.uuid4()}"),
        json={"status": "packed"},
        headers=shipping.admin,
    )
    shipping.assert_problem(missing, 404)


async def test_order_cancelled_cancels_a_shipment_not_yet_shipped(shipping: Any) -> None:
    waiting = await shipping.paid_shipment(order_id="order-w")
    assert await shipping.deliver(shipping.order_cancelled("order-w")) == Delivery.SUCCESS
    [cancelled] = await shipping.shipments(shipping.admin, order_id="order-w")
    assert cancelled["status"] == "cancelled"
    assert cancelled["history"][-1]["cause"] == "order.cancelled"
    [event] = await shipping.pubsub.wait_for("shipment.status_changed", shipment_id=waiting["id"])
    assert (event.data["previous"], event.data["status"]) == ("pending", "cancelled")
    # Again (another event id): nothing more.
    assert await shipping.deliver(shipping.order_cancelled("order-w")) == Delivery.SUCCESS
    assert len(shipping.pubsub.topics("shipment.status_changed")) == 1

    # A shipment that left stays as it is: a return is an admin's job.
    gone = await shipping.paid_shipment(order_id="order-s")
    await shipping.http.patch(
        shipping.api(f"/shipments/{gone['id']}"),
        json={"status": "shipped"},
        headers=shipping.admin,
    )
    assert await shipping.deliver(shipping.order_cancelled("order-s")) == Delivery.SUCCESS
    [still] = await shipping.shipments(shipping.admin, order_id="order-s")
    assert still["status"] == "shipped"

    # Cancelled before its order.paid came (redelivery out of order): no shipment at all.
    assert await shipping.deliver(shipping.order_cancelled("order-late")) == Delivery.SUCCESS
    assert await shipping.deliver(shipping.order_paid("order-late")) == Delivery.SUCCESS
    assert await shipping.shipments(shipping.admin, order_id="order-late") == []
    await shipping.pubsub.wait_for("shipment.created", 2)
    assert {e.data["order_id"] for e in shipping.pubsub.topics("shipment.created")} == {
        "order-w",
        "order-s",
    }


async def test_events_that_do_not_fit_are_dropped(shipping: Any) -> None:
    from shopfleet.kit.blocks import CloudEvent

    bad = CloudEvent(id=str(uuid.uuid4()), topic="order.paid", data={"order_id": 1}, shop="acme")
    assert await shipping.deliver(bad) == Delivery.DROP
    long_id = shipping.order_paid("o" * 65)
    assert await shipping.deliver(long_id) == Delivery.DROP
    assert await shipping.shipments(shipping.admin) == []


async def test_admin_makes_and_deletes_shipments_by_hand(shipping: Any) -> None:
    await shipping.method(id="express", carrier="UPS")
    body = {
        "order_id": "order-m",
        "user_id": "user-bob",
        "method_id": "express",
        "address": shipping.address(country="AT", postal_code="1010"),
        "lines": [{"product_id": str(uuid.uuid4()), "name": "Mug", "quantity": 1}],
    }
    made = await shipping.http.post(shipping.api("/shipments"), json=body, headers=shipping.admin)
    assert made.status_code == 201, made.text
    shipment = made.json()
    assert made.headers["location"] == shipping.api(f"/shipments/{shipment['id']}")
    assert (shipment["carrier"], shipment["status"]) == ("UPS", "pending")
    assert shipment["history"][0] | {"at": None} == {
        "status": "pending",
        "previous": None,
        "at": None,
        "cause": "admin",
        "actor": "admin-1",
    }
    [event] = await shipping.pubsub.wait_for("shipment.created", order_id="order-m")
    assert event.data["user_id"] == "user-bob"
    bobs = await shipping.shipments(shipping.bob)
    assert [s["id"] for s in bobs] == [shipment["id"]]

    again = await shipping.http.post(shipping.api("/shipments"), json=body, headers=shipping.admin)
    problem = shipping.assert_problem(again, 409)
    assert problem["type"].endswith("/shipment-exists") and problem["shipment_id"] == shipment["id"]
    # order.paid for that order afterwards makes nothing more
    assert await shipping.deliver(shipping.order_paid("order-m")) == Delivery.SUCCESS
    assert len(await shipping.shipments(shipping.admin, order_id="order-m")) == 1

    for changes, field in (
        ({"method_id": "nope"}, "body.method_id"),
        ({"order_id": ""}, "body.order_id"),
        ({"address": shipping.address(country="ZZ")}, "body.address.country"),
        ({"lines": [{"product_id": "x y", "quantity": 1}]}, "body.lines.0.product_id"),
    ):
        answer = await shipping.http.post(
            shipping.api("/shipments"),
            json=body | {"order_id": "order-n"} | changes,
            headers=shipping.admin,
        )
        shipping.assert_problem(answer, 422, field)

    # Only pending or cancelled shipments may be deleted.
    path = shipping.api(f"/shipments/{shipment['id']}")
    await shipping.http.patch(path, json={"status": "shipped"}, headers=shipping.admin)
    refused = await shipping.http.delete(path, headers=shipping.admin)
    assert shipping.assert_problem(refused, 409)["type"].endswith("/shipment-not-deletable")
    pending = await shipping.paid_shipment(order_id="order-p")
    deleted = await shipping.http.delete(
        shipping.api(f"/shipments/{pending['id']}"), headers=shipping.admin
    )
    assert deleted.status_code == 204
    assert await shipping.shipments(shipping.admin, order_id="order-p") == []
