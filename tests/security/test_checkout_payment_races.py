"""Issue 12, races on payments: parallel intents and confirms of one order never charge it
twice, parallel refunds of one payment never give back more than was paid; none of them
answers a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.security.checkout_kit import (
    GOOD_CARD,
    Actor,
    eventually,
    paid_order,
    unpaid_order,
)
from tests.security.conftest import Target


def _statuses(answers: list[httpx.Response]) -> list[int]:
    return sorted(a.status_code for a in answers)


async def test_parallel_intents_and_confirms_charge_an_order_once(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, races: 10 parallel POST /payments/intents for one order make one payment;
    10 parallel confirms of it charge the order's total once, and no answer is a 5xx."""
    _, shopper, order = await unpaid_order(target, client)
    body = {"order_id": order["id"], "payment_method": GOOD_CARD}

    made = await asyncio.gather(
        *(shopper.call("POST", "/payments/intents", json=body) for _ in range(10))
    )
    assert all(a.status_code in (200, 201) for a in made), _statuses(made)
    assert len({a.json()["id"] for a in made}) == 1
    payment_id = made[0].json()["id"]

    confirms = await asyncio.gather(
        *(shopper.call("POST", f"/payments/{payment_id}/confirm") for _ in range(10))
    )

    assert all(a.status_code < 500 for a in confirms), [a.text for a in confirms]
    assert any(a.status_code == 200 for a in confirms), _statuses(confirms)
    payment = await shopper.ok("GET", f"/payments/{payment_id}")
    assert payment["status"] == "succeeded" and payment["captured"] == order["total"]
    listed = await shopper.ok("GET", "/payments", params={"order_id": order["id"]})
    assert [p["id"] for p in listed["items"]] == [payment_id]
    paid = await eventually(
        lambda: shopper.ok("GET", f"/orders/{order['id']}"),
        lambda o: o["status"] in ("paid", "fulfilling"),
    )
    causes = [h["cause"] for h in paid["history"]]
    assert causes.count("payment.succeeded") == 1 and "payment.duplicate" not in causes


async def test_parallel_refunds_never_exceed_what_was_paid(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, races: 12 parallel refunds of a third of a payment each refund at most the
    payment in all (the rest 409), at Stripe too; no answer is a 5xx."""
    admin, _, payment = await paid_order(target, client)
    total = payment["captured"]["amount"]
    third = total // 3
    path = f"/payments/{payment['id']}/refunds"

    answers = await asyncio.gather(
        *(admin.call("POST", path, json={"amount": third}) for _ in range(12))
    )

    assert set(_statuses(answers)) <= {201, 409}, [a.text for a in answers]
    assert _statuses(answers).count(201) == 3
    refunded = await _settled(admin, payment["id"])
    assert sum(r["amount"]["amount"] for r in refunded["refunds"]) == 3 * third <= total
    assert refunded["refunded"]["amount"] == 3 * third


async def test_parallel_full_refunds_refund_once(target: Target, client: httpx.AsyncClient) -> None:
    """Issue 12, races: 10 parallel full refunds of one payment: one refund of the whole
    payment, 9 × 409, no 5xx."""
    admin, order, payment = await paid_order(target, client)
    path = f"/payments/{payment['id']}/refunds"

    answers = await asyncio.gather(*(admin.call("POST", path) for _ in range(10)))

    assert _statuses(answers) == [201] + [409] * 9, [a.text for a in answers]
    refunded = await _settled(admin, payment["id"])
    assert [r["amount"] for r in refunded["refunds"]] == [payment["captured"]]
    assert refunded["refunded"] == payment["captured"] and refunded["status"] == "refunded"
    await eventually(
        lambda: admin.ok("GET", f"/orders/{order['id']}"), lambda o: o["status"] == "refunded"
    )


async def _settled(admin: Actor, payment_id: str) -> Any:
    """The payment once none of its refunds is pending any more."""
    return await eventually(
        lambda: admin.ok("GET", f"/payments/{payment_id}"),
        lambda p: all(r["status"] != "pending" for r in p["refunds"]),
    )
