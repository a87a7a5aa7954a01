"""The topics the cart consumes: orders' `order.placed` and `order.cancelled`.

Thin handlers: parse the payload (a payload that does not fit its contract is DROPped),
call `CheckoutHooks`, answer RETRY on any other failure (the state store's inbox makes the
redelivery harmless). See checkout.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from pydantic import ValidationError

from shopfleet.cart.checkout import CONSUMER, CheckoutHooks
from shopfleet.kit.blocks import CloudEvent, Delivery, Subscription
from shopfleet.kit.contracts.events import (
    ORDER_CANCELLED,
    ORDER_PLACED,
    OrderCancelled,
    OrderPlaced,
)

log = structlog.get_logger("shopfleet.cart.events")


def _handler(
    topic: str, apply: Callable[[CloudEvent], Awaitable[bool]]
) -> Callable[[CloudEvent], Awaitable[Delivery]]:
    async def handle(event: CloudEvent) -> Delivery:
        ctx = {"consumer": CONSUMER, "event_id": event.id, "topic": topic, "shop": event.shop}
        try:
            if not await apply(event):
                log.debug("inbox.duplicate", **ctx)
        except (ValidationError, ValueError) as exc:  # ValidationError first: it is a ValueError
            log.warning("inbox.dropped", error=str(exc)[:500], **ctx)
            return Delivery.DROP
        except Exception:
            log.exception("inbox.handler_failed", **ctx)
            return Delivery.RETRY
        return Delivery.SUCCESS

    return handle


def subscriptions(hooks: CheckoutHooks) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""

    async def placed(event: CloudEvent) -> bool:
        order = OrderPlaced.model_validate(event.data)
        return await hooks.order_placed(event.shop, event.id, order)

    async def cancelled(event: CloudEvent) -> bool:
        order = OrderCancelled.model_validate(event.data)
        return await hooks.order_cancelled(event.shop, event.id, order)

    return [
        Subscription(ORDER_PLACED, consumer=CONSUMER, handler=_handler(ORDER_PLACED, placed)),
        Subscription(
            ORDER_CANCELLED, consumer=CONSUMER, handler=_handler(ORDER_CANCELLED, cancelled)
        ),
    ]
