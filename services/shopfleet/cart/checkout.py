"""The cart's side of the checkout saga: what orders' events do to a shopper's cart.

- `order.placed`: the ordered quantities leave the user's cart; lines (and units) the
  shopper added since stay.
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

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import structlog

from shopfleet.cart.keys import CartRef, inbox_key
from shopfleet.cart.models import StoredCart
from shopfleet.cart.order_lines import order_lines_op
from shopfleet.cart.store import CartStore, Change, Loaded
from shopfleet.kit.blocks import StateOp
from shopfleet.kit.contracts.events import OrderCancelled, OrderLinePayload, OrderPlaced

log = structlog.get_logger("shopfleet.cart.checkout")

CONSUMER = "cart"


class AlreadyHandled(Exception):
    """The inbox holds this event: it changed the cart before."""


def ordered_quantities(lines: Iterable[OrderLinePayload]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        counts[line.product_id] += line.quantity
    return counts


def take_ordered(cart: StoredCart, ordered: Counter[str]) -> StoredCart:
    """The cart less the ordered units: a line keeps what exceeds its ordered quantity
    (units added after ordering); a line ordered in full goes. Pure."""
    lines = []
    for line in cart.lines:
        left = line.quantity - ordered.get(line.product_id, 0)
        if left > 0:
            lines.append(
                line if left == line.quantity else line.model_copy(update={"quantity": left})
            )
    return cart.model_copy(update={"lines": lines})


class CheckoutHooks:
    """Applies orders' events to carts; built by `create_app`, called by `events.py`."""

    def __init__(
        self,
        store: CartStore,
        *,
        inbox_ttl_s: int,
        order_lines_ttl_s: int,
        clock: Callable[[], float] | None = None,
        consumer: str = CONSUMER,
    ) -> None:
        self.store = store
        self.inbox_ttl_s = inbox_ttl_s
        self.order_lines_ttl_s = order_lines_ttl_s
        self.consumer = consumer
        self._clock = clock

    def _mark(self, shop: str, event_id: str) -> StateOp:
        key = inbox_key(self.consumer, shop, event_id)
        handled_at = (
            datetime.fromtimestamp(self._clock(), UTC) if self._clock else datetime.now(UTC)
        )
        return StateOp.upsert(key, {"handled_at": handled_at.isoformat()}, ttl_s=self.inbox_ttl_s)

    async def order_placed(self, shop: str, event_id: str, order: OrderPlaced) -> bool:
        """Take the ordered units out of the shopper's cart; False if already handled."""
        ref = CartRef.user(shop, order.user_id)
        mark = self._mark(shop, event_id)
        first = await self.store.load(ref, removed=True, others=[mark.key])
        if mark.key in first.others:
            return False
        if not first.exists:  # no cart (expired, or emptied by hand): nothing to take out
            await self.store.state.transact([mark])
            return True
        ordered = ordered_quantities(order.lines)

        def change(state: Loaded) -> Change:
            if mark.key in state.others:
                raise AlreadyHandled()
            cart = take_ordered(state.cart, ordered)
            return Change(cart.model_copy(update={"updated_at": self.store.now()}), None, [mark])

        try:
            await self.store.write(ref, change, others=[mark.key], first=first)
        except AlreadyHandled:
            return False
        log.info("cart.order_placed", shop=shop, order_id=order.order_id, user_id=order.user_id)
        return True

    async def order_cancelled(self, shop: str, event_id: str, order: OrderCancelled) -> bool:
        """Keep the order's lines for `POST /cart/restore`; False if already handled."""
        mark = self._mark(shop, event_id)
        if await self.store.state.get(mark.key) is not None:
            return False
        keep = order_lines_op(
            shop,
            order.user_id,
            order.order_id,
            order.lines,
            ttl_s=self.order_lines_ttl_s,
            clock=self._clock,
        )
        await self.store.state.transact([keep, mark])
        log.info("cart.order_lines_kept", shop=shop, order_id=order.order_id, status=order.status)
        return True
