"""What each event tells a shopper (pure), the retry schedule, and the e-mail's shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shopfleet.kit.contracts import events as ev
from shopfleet.notifications.domain.messages import Kind, compose, order_ref
from shopfleet.notifications.domain.retries import RetryPolicy
from shopfleet.notifications.senders import Outgoing, SendError, SmtpSender
from shopfleet.notifications.settings import NotificationsSettings

ORDER = "3f2a9c1e-0000-4000-8000-000000000001"
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def common() -> dict[str, Any]:
    return {"order_id": ORDER, "user_id": "u1"}


def shipment(status: str, **extra: Any) -> ev.ShipmentStatusChanged:
    return ev.ShipmentStatusChanged(
        shipment_id="s1",
        status=status,
        previous="packed",
        carrier=None,
        tracking_number=None,
        changed_at=NOW,
        **common(),
        **extra,
    )


def test_an_order_is_named_by_its_ids_start() -> None:
    assert order_ref(ORDER) == "3F2A9C1E"


def test_placed_counts_items_and_formats_money_in_minor_units() -> None:
    line = {
        "product_id": "p",
        "name": "Mug",
        "sku": "M",
        "quantity": 1,
        "unit_price": money(500, "JPY"),
    }
    placed = ev.OrderPlaced(
        lines=[line],
        subtotal=money(500, "JPY"),
        shipping=money(0, "JPY"),
        total=money(500, "JPY"),
        shipping_method_id="std",
        placed_at=NOW,
        **common(),
    )
    draft = compose(placed)
    assert draft is not None and draft.kind is Kind.ORDER_PLACED
    assert "1 item, 500 JPY in total (shipping 0 JPY)" in draft.message
    assert draft.user_id == "u1" and draft.order_id == ORDER
    assert draft.dedupe_key == f"order_placed:{ORDER}"


@pytest.mark.parametrize(
    ("cause", "was_paid", "expected"),
    [
        ("user", False, "You cancelled order 3F2A9C1E. You can put its items back into your cart."),
        ("expired", False, "Order 3F2A9C1E was cancelled because it was not paid in time."),
        ("user", True, "Your payment of 12.00 EUR will be refunded in full."),
    ],
)
def test_cancellation_says_why_and_what_happens_to_the_money(
    cause: str, was_paid: bool, expected: str
) -> None:
    cancelled = ev.OrderCancelled(
        status="cancelled",
        cause=cause,
        reason="r",
        was_paid=was_paid,
        lines=[],
        total=money(1200),
        cancelled_at=NOW,
        **common(),
    )
    draft = compose(cancelled)
    assert draft is not None and draft.kind is Kind.ORDER_CANCELLED
    assert expected in draft.message
    assert "Reason" not in draft.message  # only an admin's reason is quoted


def test_a_decline_told_by_payments_and_by_orders_is_one_fact() -> None:
    failed = ev.PaymentFailed(
        payment_id="p1",
        amount=money(1200),
        code="card_declined",
        message="Declined",
        failed_at=NOW,
        **common(),
    )
    ended = ev.OrderCancelled(
        status="payment_failed",
        cause="payment_failed",
        reason="declined",
        was_paid=False,
        lines=[],
        total=money(1200),
        cancelled_at=NOW,
        **common(),
    )
    a, b = compose(failed), compose(ended)
    assert a is not None and b is not None
    assert a.kind is b.kind is Kind.PAYMENT_FAILED
    assert a.dedupe_key == b.dedupe_key
    assert "put its items back" in b.message


def test_each_refund_is_its_own_notification() -> None:
    def refund(refund_id: str, full: bool) -> ev.PaymentRefunded:
        return ev.PaymentRefunded(
            payment_id="p1",
            refund_id=refund_id,
            amount=money(300),
            refunded_total=money(600),
            full=full,
            refunded_at=NOW,
            **common(),
        )

    first, second = compose(refund("r1", False)), compose(refund("r2", True))
    assert first is not None and second is not None
    assert first.dedupe_key != second.dedupe_key
    assert "(6.00 EUR refunded so far)" in first.message
    assert "(the full amount)" in second.message


def test_only_shipped_and_delivered_are_worth_telling() -> None:
    shipped = compose(
        shipment(
            "shipped",
        )
    )
    assert shipped is not None and shipped.kind is Kind.ORDER_SHIPPED
    assert shipped.message == "Order 3F2A9C1E has shipped."
    delivered = compose(shipment("delivered"))
    assert delivered is not None and delivered.kind is Kind.ORDER_DELIVERED
    for status in ("pending", "packed", "in_transit", "returned", "cancelled"):
        assert compose(shipment(status)) is None
    created = ev.ShipmentCreated(shipment_id="s1", method_id="m", created_at=NOW, **common())
    assert compose(created) is None


def test_back_off_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_s=30, max_backoff_s=200)
    assert [policy.delay_s(n) for n in range(1, 6)] == [30, 60, 120, 200, 200]


def outgoing(email: str | None) -> Outgoing:
    return Outgoing(
        notification_id=str(uuid.uuid4()),
        shop="acme",
        user_id="u1",
        email=email,
        display_name="Ada",
        subject="Hi",
        body="Body",
    )


def test_an_email_needs_an_address() -> None:
    sender = SmtpSender("localhost", 25, sender="Shop <shop@example.com>")
    with pytest.raises(SendError) as waiting:
        sender.compose(outgoing(None))
    assert not waiting.value.permanent  # the address may still come (user.registered)
    with pytest.raises(SendError) as bad:
        sender.compose(outgoing("not an address@"))
    assert bad.value.permanent
    email = sender.compose(outgoing("ada@example.com"))
    assert email["To"] == "Ada <ada@example.com>" and email["Subject"] == "Hi"
    assert email.get_content() == "Hello Ada,\n\nBody\n"


def test_smtp_settings_need_a_host() -> None:
    with pytest.raises(ValidationError, match="SMTP_HOST"):
        NotificationsSettings(sender="smtp")
    assert NotificationsSettings(sender="smtp", smtp_host="mail.example.com").smtp_port == 587
