"""The cart's use cases in the checkout saga: what orders reads, and what orders' events
do to a shopper's cart (the rules: domain/checkout.py).

- orders reads a signed-in shopper's lines and the cart's version to place an order;
- `order.placed`: the ordered quantities leave the user's cart; lines (and units) the
  shopper added since stay; a cart the order empties remembers that order;
- `order.cancelled` (cancelled or payment_failed): the order's lines are kept, so that
  `POST /cart/restore {"order_id"}` puts them back.

The cart has no SQL database, so its inbox lives in the state store: one key per
(consumer, shop, event id) with a TTL (`CartSettings.inbox_ttl_s`), written in the same
`transact` as the change. `order.placed` reads the mark with the cart and writes both
under the cart's ETag: of two deliveries of one event racing, the second finds the ETag
changed, reads again, sees the mark and changes nothing. `order.cancelled` writes the
order's lines and the mark together; two racing deliveries of it write the same lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from shopfleet.cart.domain.checkout import (
    LineLike,
    after_order_placed,
    lines_for_orders,
    order_lines,
    ordered_quantities,
)
from shopfleet.cart.keys import CartRef
from shopfleet.cart.settings import ORDER_LINES_TTL_S
from shopfleet.cart.store import CartStore, Change, Loaded, inbox_mark, order_lines_op
from shopfleet.kit.blocks import StateStore
from shopfleet.kit.contracts.cart import CartLines
from shopfleet.kit.contracts.events import OrderCancelled, OrderPlaced

log = structlog.get_logger("shopfleet.cart.checkout")

CONSUMER = "cart"


class AlreadyHandled(Exception):
    """The inbox holds this event: it changed the cart before."""


async def remember_order_lines(
    state: StateStore,
    shop: str,
    user_id: str,
    order_id: str,
    lines: Iterable[LineLike | Mapping[str, Any]],
    *,
    ttl_s: int = ORDER_LINES_TTL_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Keep a cancelled order's lines so that its shopper can put them back into the cart
    (`POST /cart/restore {"order_id": ...}`), for `ttl_s` (CartSettings.order_lines_ttl_s).

    Saving the same order again replaces its lines. Raises ValueError (a pydantic
    ValidationError for a bad line) for input that can never be stored: DROP it.
    """
    doc = order_lines(order_id, lines, datetime.fromtimestamp(clock(), UTC))
    op = order_lines_op(shop, user_id, doc, ttl_s)
    await state.save(op.key, op.value, ttl_s=op.ttl_s)


class CheckoutHooks:
    """The checkout's use cases; built by `create_app`, called by `events.py` and
    `internal_api.py`."""

    def __init__(
        self,
        store: CartStore,
        *,
        inbox_ttl_s: int,
        order_lines_ttl_s: int,
        consumer: str = CONSUMER,
    ) -> None:
        self.store = store
        self.inbox_ttl_s = inbox_ttl_s
        self.order_lines_ttl_s = order_lines_ttl_s
        self.consumer = consumer

    async def lines(self, shop: str, user_id: str) -> CartLines:
        """A signed-in shopper's lines and the cart's version, for orders to place."""
        loaded = await self.store.load(CartRef.user(shop, user_id))
        return lines_for_orders(user_id, loaded.cart, loaded.etag)

    async def order_placed(self, shop: str, event_id: str, order: OrderPlaced) -> bool:
        """Take the ordered units out of the shopper's cart; False if already handled."""
        ref = CartRef.user(shop, order.user_id)
        mark = inbox_mark(self.consumer, shop, event_id, self.store.now(), self.inbox_ttl_s)
        first = await self.store.load(ref, removed=True, others=[mark.key])
        if mark.key in first.others:
            return False
        if not first.exists:  # no cart (expired, or emptied by hand): nothing to take out
            await self.store.transact([mark])
            return True
        ordered = ordered_quantities(order.lines)

        def change(state: Loaded) -> Change:
            if mark.key in state.others:
                raise AlreadyHandled()
            cart = after_order_placed(state.cart, state.etag, order.order_id, ordered)
            return Change(cart.model_copy(update={"updated_at": self.store.now()}), None, [mark])

        try:
            await self.store.write(ref, change, others=[mark.key], first=first)
        except AlreadyHandled:
            return False
        log.info("cart.order_placed", shop=shop, order_id=order.order_id, user_id=order.user_id)
        return True

    async def order_cancelled(self, shop: str, event_id: str, order: OrderCancelled) -> bool:
        """Keep the order's lines for `POST /cart/restore`; False if already handled."""
        now = self.store.now()
        mark = inbox_mark(self.consumer, shop, event_id, now, self.inbox_ttl_s)
        if await self.store.handled(mark):
            return False
        doc = order_lines(order.order_id, order.lines, now)
        keep = order_lines_op(shop, order.user_id, doc, self.order_lines_ttl_s)
        await self.store.transact([keep, mark])
        log.info("cart.order_lines_kept", shop=shop, order_id=order.order_id, status=order.status)
        return True
