"""What Stripe's errors mean for a payment: declined, refused, or unknown (retry later)."""

from __future__ import annotations

import pytest
import stripe

from shopfleet.kit.errors import problem_for
from shopfleet.payments.provider import Declined, Rejected, Unavailable, call


async def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (
            stripe.CardError("Your card was declined.", "payment_method", "card_declined"),
            Declined,
            None,
        ),
        (stripe.APIConnectionError("connection refused"), Unavailable, 503),
        (stripe.RateLimitError("slow down", http_status=429), Unavailable, 503),
        (stripe.AuthenticationError("bad key", http_status=401), Unavailable, 503),
        (stripe.APIError("boom", http_status=500), Unavailable, 502),
        (
            stripe.InvalidRequestError(
                "No such payment_method", "payment_method", code="resource_missing", http_status=404
            ),
            Rejected,
            404,
        ),
        (stripe.InvalidRequestError("Bad request", None, http_status=400), Rejected, 400),
    ],
)
async def test_stripe_errors_map_to_outcomes(
    error: Exception, kind: type, status: int | None
) -> None:
    with pytest.raises(kind) as caught:
        await call(_raise(error))
    if status is not None:
        assert caught.value.status == status  # type: ignore[attr-defined]


async def test_a_decline_keeps_its_code_and_message() -> None:
    error = stripe.CardError("Your card has insufficient funds.", None, "card_declined")
    with pytest.raises(Declined) as caught:
        await call(_raise(error))
    assert caught.value.code == "card_declined"
    assert "insufficient" in caught.value.message


async def test_an_unavailable_stripe_is_a_retriable_problem() -> None:
    problem = problem_for(Unavailable(503, "connection refused").refusal("confirm the payment"))
    assert problem.status == 503 and problem.headers["Retry-After"]
    assert "confirm the payment" in problem.detail
