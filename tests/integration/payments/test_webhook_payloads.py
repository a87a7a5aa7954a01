"""Issue 12, hole 10: a signed Stripe event whose payload is not the shape Stripe sends is
the sender's mistake: 400 problem+json (and logged), never a 500 Stripe would retry for
days; the payment it names is unchanged and the event id is not spent."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.integration.payments.conftest import Payments
from tests.support.problems import assert_problem
from tests.support.stripe import signature_header


def _event(kind: Any, obj: Any, event_id: str = "evt_malformed") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def _charge(intent: str, refunds: Any) -> dict[str, Any]:
    return {"id": "ch_1", "object": "charge", "payment_intent": intent, "refunds": refunds}


def _intent(intent: str, **fields: Any) -> dict[str, Any]:
    return {"id": intent, "object": "payment_intent", "amount": 1999, **fields}


MALFORMED = {
    "refunds a list": lambda pi: _event("charge.refunded", _charge(pi, [{"id": "re_1"}])),
    "refunds a string": lambda pi: _event("charge.refunded", _charge(pi, "re_1")),
    "refunds.data a string": lambda pi: _event("charge.refunded", _charge(pi, {"data": "x"})),
    "a refund without id": lambda pi: _event(
        "charge.refunded", _charge(pi, {"data": [{"amount": 100, "status": "succeeded"}]})
    ),
    "a refund amount not a number": lambda pi: _event(
        "charge.refunded",
        _charge(pi, {"data": [{"id": "re_1", "amount": "lots", "status": "succeeded"}]}),
    ),
    "a refund not an object": lambda pi: _event("charge.refunded", _charge(pi, {"data": [7]})),
    "amount_received not a number": lambda pi: _event(
        "payment_intent.succeeded", _intent(pi, status="succeeded", amount_received="many")
    ),
    "last_payment_error a string": lambda pi: _event(
        "payment_intent.payment_failed",
        _intent(pi, status="requires_payment_method", last_payment_error="boom"),
    ),
    "status a list": lambda pi: _event("payment_intent.succeeded", _intent(pi, status=["x"])),
    "type a list": lambda pi: _event(["payment_intent.succeeded"], _intent(pi, status="succeeded")),
    "object a list": lambda pi: _event("payment_intent.succeeded", [pi]),
    "id a number": lambda pi: _event("payment_intent.succeeded", _intent(pi), event_id=7),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_signed_event_is_a_400(payments: Payments, case: str) -> None:
    """Issue 12, hole 10: malformed provider payloads are 400 problem+json, never 500."""
    paid = await payments.paid()
    intent = paid["provider_ref"]
    body = orjson.dumps(MALFORMED[case](intent))
    secret = await payments.app.state.stripe.webhook_secret(payments.shop)

    answer = await payments.http.post(
        payments.api("/payments/webhooks/stripe"),
        content=body,
        headers={
            "Stripe-Signature": signature_header(body, secret),
            "Content-Type": "application/json",
        },
    )

    problem = assert_problem(answer, 400)
    assert problem["type"].endswith("/invalid-webhook"), problem
    after = (await payments.get(paid["id"], payments.admin)).json()
    assert after["status"] == "succeeded" and after["refunds"] == []
