"""The topics the cart consumes: orders' `order.placed` and `order.cancelled`.

Thin handlers over `CheckoutHooks` (checkout.py). The cart has no SQL database: its
inbox is the state-store mark each hook writes in the same transaction as its change, so
the router runs the hooks as they are (`HandlersKeepTheInbox`). A payload that does not
fit its contract, or ids our keys cannot hold (ValueError), is dropped.
"""

from __future__ import annotations

from shopfleet.cart.checkout import CONSUMER, CheckoutHooks
from shopfleet.kit.blocks import Subscription
from shopfleet.kit.contracts.events import (
    ORDER_CANCELLED,
    ORDER_PLACED,
    OrderCancelled,
    OrderPlaced,
)
from shopfleet.kit.subscriptions import EventRouter, HandlersKeepTheInbox, Received


def subscriptions(hooks: CheckoutHooks) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, HandlersKeepTheInbox(), unprocessable=(ValueError,))

    @router.on(ORDER_PLACED)
    async def order_placed(_: None, event: Received[OrderPlaced]) -> None:
        await hooks.order_placed(event.shop, event.id, event.payload)

    @router.on(ORDER_CANCELLED)
    async def order_cancelled(_: None, event: Received[OrderCancelled]) -> None:
        await hooks.order_cancelled(event.shop, event.id, event.payload)

    return router.subscriptions()
