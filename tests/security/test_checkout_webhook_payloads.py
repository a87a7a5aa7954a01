"""Issue 12, hole 10: a signed Stripe `charge.refunded` whose `refunds` is a list or a
string answered 500 (Stripe would retry it for days). Through the gateway, as Stripe posts."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.security.checkout_kit import paid_order
from tests.security.conftest import API, Target, only
from tests.support.problems import assert_problem
from tests.support.stripe import signature_header


@pytest.mark.parametrize("refunds", [[{"id": "re_1", "amount": 1}], "re_1"])
async def test_a_malformed_signed_refund_event_is_a_400(
    target: Target, client: httpx.AsyncClient, refunds: object
) -> None:
    """Issue 12, hole 10: malformed provider payloads are 400 problem+json, never 500."""
    only(target, "embedded")  # the test signs with the shop's secret, read from the process
    admin, _, payment = await paid_order(target, client)
    # The target has no public URL, so no webhook is registered at the emulator: make the
    # shop's webhook secret as registering would (an attacker who holds it, or Stripe).
    accounts = target.platform.apps["payments"].state.stripe  # type: ignore[union-attr]
    secret = await accounts._emulated_secret("demo", create=True)
    charge = {
        "id": "ch_x",
        "object": "charge",
        "payment_intent": payment["provider_ref"],
        "refunds": refunds,
    }
    event = {
        "id": f"evt_{time.time_ns()}",
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {"object": charge},
    }
    body = orjson.dumps(event)

    answer = await client.post(
        f"{API}/payments/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": signature_header(body, secret),
            "Content-Type": "application/json",
        },
    )

    problem = assert_problem(answer, 400)
    assert problem["type"].endswith("/invalid-webhook"), problem
    after = await admin.ok("GET", f"/payments/{payment['id']}")
    assert after["status"] == "succeeded" and after["refunds"] == []
