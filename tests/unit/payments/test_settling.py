"""What Stripe's word on an intent means for its payment: captured, failed, late (refunded),
told twice (nothing), progress; every change within the transition table."""

from __future__ import annotations

import pytest

from shopfleet.kit.money import Money
from shopfleet.payments.domain.from_stripe import Intent, IntentError
from shopfleet.payments.domain.payment import CAPTURED, GIVEN_UP, OPEN, TRANSITIONS, PaymentStatus
from shopfleet.payments.domain.rechecks import first_check_at, recheck_delay_s
from shopfleet.payments.domain.settling import (
    Capture,
    Change,
    Fail,
    Move,
    forgotten_by_stripe,
    intent_refused,
    payment_failed,
    payment_succeeded,
    settle_intent,
)
from tests.unit.payments.builders import NOW, captured, payment

STRIPE_STATUSES = [
    "succeeded",
    "canceled",
    "requires_payment_method",
    "requires_confirmation",
    "processing",
    "requires_capture",
    "requires_action",
    "something_new",
    None,
]


def told(
    status: str | None,
    *,
    amount: int | None = None,
    amount_received: int | None = None,
    error: IntentError | None = None,
) -> Intent:
    return Intent("pi_1", status, amount, amount_received, error)


def target_of(change: Change) -> PaymentStatus:
    match change:
        case Capture():
            return PaymentStatus.SUCCEEDED
        case Fail():
            return PaymentStatus.FAILED
        case Move():
            return change.target


@pytest.mark.parametrize("status", sorted(OPEN))
def test_a_success_captures_an_open_payment(status: PaymentStatus) -> None:
    change = settle_intent(payment(status), told("succeeded", amount_received=1500))
    assert change == Capture(1500, late=False)
    assert change.sources == OPEN


def test_what_was_received_falls_back_to_the_intents_then_the_payments_amount() -> None:
    open_payment = payment(PaymentStatus.PROCESSING, amount=1999)
    assert settle_intent(open_payment, told("succeeded", amount=1800)) == Capture(1800, late=False)
    assert settle_intent(open_payment, told("succeeded")) == Capture(1999, late=False)


@pytest.mark.parametrize("status", sorted(CAPTURED))
def test_a_success_told_twice_changes_nothing(status: PaymentStatus) -> None:
    assert settle_intent(payment(status), told("succeeded")) is None


@pytest.mark.parametrize("status", sorted(GIVEN_UP))
def test_money_taken_after_the_payment_was_given_up_is_captured_then_refunded(
    status: PaymentStatus,
) -> None:
    """A cancelled or expired order's intent paid in the browser anyway, or a retry after
    a decline: the money is recorded (late) so that it can be given back."""
    change = settle_intent(payment(status), told("succeeded", amount_received=1999))
    assert change == Capture(1999, late=True)
    assert change.sources == GIVEN_UP


def test_a_failure_at_stripe_fails_an_open_payment_with_its_reason() -> None:
    error = IntentError("card_declined", "Your card was declined.")
    change = settle_intent(payment(), told("requires_payment_method", error=error))
    assert change == Fail("card_declined", "Your card was declined.")
    unnamed = settle_intent(
        payment(), told("requires_payment_method", error=IntentError(None, None))
    )
    assert unnamed == Fail("payment_failed", "The payment failed.")


def test_an_intent_cancelled_at_stripe_fails_its_payment() -> None:
    change = settle_intent(payment(PaymentStatus.PROCESSING), told("canceled"))
    assert change == Fail("canceled", "The payment was cancelled at Stripe.")


@pytest.mark.parametrize("status", sorted(CAPTURED | GIVEN_UP))
def test_a_settled_payment_does_not_fail_again(status: PaymentStatus) -> None:
    error = IntentError("card_declined", "declined")
    assert settle_intent(payment(status), told("canceled")) is None
    assert settle_intent(payment(status), told("requires_payment_method", error=error)) is None


def test_a_confirmation_that_never_reached_stripe_reopens_the_payment() -> None:
    processing = payment(PaymentStatus.PROCESSING)
    for status in ("requires_confirmation", "requires_payment_method"):
        change = settle_intent(processing, told(status))
        assert change == Move(PaymentStatus.PENDING, frozenset({PaymentStatus.PROCESSING}))
        assert settle_intent(payment(PaymentStatus.PENDING), told(status)) is None


@pytest.mark.parametrize(
    ("stripe_status", "target"),
    [
        ("processing", PaymentStatus.PROCESSING),
        ("requires_capture", PaymentStatus.PROCESSING),
        ("requires_action", PaymentStatus.REQUIRES_ACTION),
    ],
)
def test_progress_at_stripe_moves_an_open_payment_once(
    stripe_status: str, target: PaymentStatus
) -> None:
    change = settle_intent(payment(PaymentStatus.PENDING), told(stripe_status))
    assert change == Move(target, OPEN - {target})
    assert settle_intent(payment(target), told(stripe_status)) is None  # there already
    assert settle_intent(captured(), told(stripe_status)) is None


def test_a_status_stripe_adds_later_changes_nothing() -> None:
    assert settle_intent(payment(), told("something_new")) is None
    assert settle_intent(payment(), told(None)) is None


@pytest.mark.parametrize("status", list(PaymentStatus))
@pytest.mark.parametrize("stripe_status", STRIPE_STATUSES)
def test_every_change_is_a_move_the_transition_table_allows(
    status: PaymentStatus, stripe_status: str | None
) -> None:
    error = IntentError("x", "y") if stripe_status == "requires_payment_method" else None
    change = settle_intent(payment(status), told(stripe_status, error=error))
    if change is None:
        return
    assert status in change.sources
    assert target_of(change) in TRANSITIONS[status]


def test_the_transition_table_names_every_status_and_lets_nothing_reopen() -> None:
    assert set(TRANSITIONS) == set(PaymentStatus)
    for status in CAPTURED | GIVEN_UP:
        assert not TRANSITIONS[status] & OPEN


def test_only_a_payment_being_created_fails_when_stripe_refuses_its_intent() -> None:
    refused = intent_refused("invalid_request", "No such payment_method")
    assert refused.sources == frozenset({PaymentStatus.CREATING})
    assert forgotten_by_stripe(payment(PaymentStatus.PROCESSING)) == Fail(
        "processing_error", "Stripe no longer knows this payment."
    )
    assert forgotten_by_stripe(captured()) is None


def test_the_events_say_what_happened_to_the_payment() -> None:
    succeeded = payment_succeeded(payment(PaymentStatus.PROCESSING), 1500, NOW)
    assert (succeeded.payment_id, succeeded.provider_ref) == ("p1", "pi_1")
    assert succeeded.amount == Money(amount=1500, currency="EUR")
    failure = Fail("card_declined", "Your card was declined.")
    failed = payment_failed(payment(), failure, NOW)
    assert (failed.code, failed.message, failed.amount.amount) == (
        "card_declined",
        "Your card was declined.",
        1999,
    )


def test_a_payment_made_has_its_intent() -> None:
    assert payment().intent_id == "pi_1"
    with pytest.raises(LookupError):
        _ = payment(PaymentStatus.CREATING, provider_intent_id=None).intent_id


def test_the_reconciler_asks_again_later_and_later_at_most_hourly() -> None:
    assert recheck_delay_s(0, 30.0) == 30.0
    assert recheck_delay_s(3, 30.0) == 240.0
    assert recheck_delay_s(40, 30.0) == 3600.0
    assert recheck_delay_s(0, 0.0) == 1.0  # never a busy loop
    assert (first_check_at(NOW, 30.0) - NOW).total_seconds() == 30.0
