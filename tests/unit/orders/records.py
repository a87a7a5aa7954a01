"""Orders and events as the saga's decisions see them, built in memory (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.money import Money
from shopfleet.orders.domain.order import (
    OrderEvent,
    OrderLine,
    OrderRecord,
    ShippingChoice,
    Status,
    Stock,
)

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
SHOPPER = "user-1"
ADMIN = "admin-1"
MUG = "5c2e0f6b-0a8c-4c1e-9a44-6f7d2b8f1e01"  # a product id, as catalog makes them


def money(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def order(status: Status = Status.PENDING_PAYMENT, **changes: Any) -> OrderRecord:
    """An order of 2 mugs at 12.50 and 4.90 shipping (29.90), reserved, awaiting payment."""
    mug = OrderLine(
        product_id=MUG,
        name="Mug",
        sku="MUG-1",
        quantity=2,
        unit_price=money(1250),
        line_total=money(2500),
        weight_grams=300,
    )
    standard = ShippingChoice(
        method_id="standard",
        method_name="Standard",
        carrier="Royal Mail",
        cost=money(490),
        estimated_days_min=1,
        estimated_days_max=3,
    )
    address = Address(
        name="Ada",
        line1="12 St James's Square",
        city="London",
        postal_code="SW1Y 4JH",
        country="GB",
    )
    placed = OrderRecord(
        id="0f8fad5b-d9cb-469f-a165-70867728950e",
        shop="acme",
        user_id=SHOPPER,
        status=status,
        stock=Stock.RESERVED,
        currency="EUR",
        subtotal_amount=2500,
        shipping_amount=490,
        total_amount=2990,
        refunded_amount=0,
        lines=(mug,),
        shipping_method_id="standard",
        shipping_method=standard,
        shipping_address=address,
        request_hash=None,
        payment_id=None,
        cancel_reason=None,
        cancel_cause=None,
        version=3,
        created_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(minutes=25),
        paid_at=None,
    )
    return replace(placed, **changes)


def paid(status: Status = Status.PAID, **changes: Any) -> OrderRecord:
    """A paid order whose stock catalog committed."""
    values = dict(stock=Stock.COMMITTED, payment_id="pay-1", paid_at=NOW, expires_at=None)
    return order(status, **(values | changes))


def payment_succeeded(payment_id: str = "pay-1", amount: int = 2990) -> ev.PaymentSucceeded:
    return ev.PaymentSucceeded(
        payment_id=payment_id,
        order_id=order().id,
        user_id=SHOPPER,
        amount=money(amount),
        provider_ref=f"pi_{payment_id}",
        succeeded_at=NOW,
    )


def payment_failed(message: str = "Your card was declined.") -> ev.PaymentFailed:
    return ev.PaymentFailed(
        payment_id="pay-f",
        order_id=order().id,
        user_id=SHOPPER,
        amount=money(2990),
        code="card_declined",
        message=message,
        failed_at=NOW,
    )


def payment_refunded(amount: int, so_far: int, *, full: bool) -> ev.PaymentRefunded:
    return ev.PaymentRefunded(
        payment_id="pay-1",
        order_id=order().id,
        user_id=SHOPPER,
        refund_id="re-1",
        amount=money(amount),
        refunded_total=money(so_far),
        full=full,
        refunded_at=NOW,
    )


def shipment_created() -> ev.ShipmentCreated:
    return ev.ShipmentCreated(
        shipment_id="shp-1",
        order_id=order().id,
        user_id=SHOPPER,
        method_id="standard",
        created_at=NOW,
    )


def shipment_moved(status: str, previous: str = "pending", **kw: Any) -> ev.ShipmentStatusChanged:
    fields: dict[str, Any] = dict(carrier="DHL", tracking_number="JD0001") | kw
    return ev.ShipmentStatusChanged.model_validate(
        dict(
            shipment_id="shp-1",
            order_id=order().id,
            user_id=SHOPPER,
            status=status,
            previous=previous,
            changed_at=NOW,
        )
        | fields
    )


def topics(events: tuple[OrderEvent, ...]) -> list[str]:
    """The topics `events` go out on (each payload model has one)."""
    by_model = {topic.model: topic.name for topic in ev.TOPICS.values()}
    return [by_model[type(event)] for event in events]


def payload(events: tuple[OrderEvent, ...], topic: str) -> dict[str, Any]:
    """The one event of `topic`, as the outbox would send it."""
    (found,) = [event for event in events if topics((event,)) == [topic]]
    return found.model_dump(mode="json")
