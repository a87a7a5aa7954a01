"""The cart's use cases: what each request does, from the lines' rules and the store.

The rules are pure (lines.py, removed.py, order_lines.py, merge.py, views.py); every
write goes through `CartWriter` (writes.py), which prices before it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from shopfleet.cart.etags import IfMatch
from shopfleet.cart.lines import add_line, set_quantity
from shopfleet.cart.models import RemovedLinesPublic, StoredCart, StoredRemoved
from shopfleet.cart.order_lines import LineLike, remember_order_lines, restore_order
from shopfleet.cart.problems import field_problem
from shopfleet.cart.removed import clear_lines, remove_line, restore_removed
from shopfleet.cart.settings import ORDER_LINES_TTL_S
from shopfleet.cart.shopper import Shopper
from shopfleet.cart.store import CartStore, Change, Loaded
from shopfleet.cart.views import CartView, render_for, render_removed
from shopfleet.cart.writes import CartWriter, Trace
from shopfleet.kit.blocks import StateOp
from shopfleet.kit.contracts.catalog import Snapshots
from shopfleet.kit.contracts.clients.catalog import CatalogClient


class Carts:
    """The cart's use cases; one per app, built by `create_app`."""

    def __init__(
        self,
        store: CartStore,
        catalog: CatalogClient,
        *,
        order_lines_ttl_s: int = ORDER_LINES_TTL_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.order_lines_ttl_s = order_lines_ttl_s
        self._clock = clock
        self._writer = CartWriter(store, catalog)

    async def remember_order_lines(
        self, shop: str, user_id: str, order_id: str, lines: Iterable[LineLike | Mapping[str, Any]]
    ) -> None:
        """`remember_order_lines` with this app's TTL and clock (for the cart's own event
        handlers)."""
        await remember_order_lines(
            self.store.state,
            shop,
            user_id,
            order_id,
            lines,
            ttl_s=self.order_lines_ttl_s,
            clock=self._clock,
        )

    # ------------------------------------------------------------------------- reads

    async def view(self, who: Shopper, *, trace: Trace = ()) -> CartView:
        ref, merges = who.cart, who.merges
        if ref is None:
            return CartView(render_for(who, StoredCart(), {}, expires_at=None), None)
        loaded = await self.store.load(ref, others=[merges.key] if merges else ())
        if merges is not None and merges.key in loaded.others:
            # Signed in with an anonymous cart: merging it is a write (with no step of its own).
            return await self._writer.write(
                who, None, lambda state, _: Change(state.cart), trace=trace
            )
        snapshots = await self.catalog.lookup(who.shop, loaded.cart.product_ids, headers=trace)
        expires_at = self.store.expires_at(ref, loaded.cart)
        return CartView(render_for(who, loaded.cart, snapshots, expires_at=expires_at), loaded.etag)

    async def removed(self, who: Shopper, *, trace: Trace = ()) -> RemovedLinesPublic:
        ref = who.cart
        removed = StoredRemoved()
        if ref is not None:
            removed = (await self.store.load(ref, removed=True)).removed
        snapshots = await self.catalog.lookup(
            who.shop, [line.product_id for line in removed.lines], headers=trace
        )
        return render_removed(removed, snapshots, self.store.removed_ttl_s)

    # ------------------------------------------------------------------------- writes

    async def add(
        self, who: Shopper, product_id: str, quantity: int, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        def step(state: Loaded, snapshots: Snapshots) -> Change:
            cart = add_line(
                state.cart, product_id, quantity, snapshots.get(product_id), self.store.now()
            )
            return Change(cart)

        return await self._writer.write(who, if_match, step, needs=[product_id], **kw)

    async def set_quantity(
        self, who: Shopper, product_id: str, quantity: int, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        def step(state: Loaded, snapshots: Snapshots) -> Change:
            return Change(set_quantity(state.cart, product_id, quantity, snapshots.get(product_id)))

        return await self._writer.write(who, if_match, step, needs=[product_id], **kw)

    async def remove(
        self, who: Shopper, product_id: str, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        def step(state: Loaded, _: Snapshots) -> Change:
            cart, removed = remove_line(state.cart, state.removed, product_id, self.store.now())
            return Change(cart, removed)

        return await self._writer.write(who, if_match, step, **kw)

    async def clear(self, who: Shopper, if_match: IfMatch | None, **kw: Any) -> CartView:
        def step(state: Loaded, _: Snapshots) -> Change:
            cart, removed = clear_lines(state.cart, state.removed, self.store.now())
            return Change(cart, removed)

        return await self._writer.write(who, if_match, step, lookup=False, **kw)

    async def restore(
        self,
        who: Shopper,
        product_ids: Sequence[str] | None,
        if_match: IfMatch | None,
        **kw: Any,
    ) -> CartView:
        def step(state: Loaded, _: Snapshots) -> Change:
            cart, removed = restore_removed(state.cart, state.removed, product_ids)
            return Change(cart, removed)

        def needs(state: Loaded) -> list[str]:
            return [line.product_id for line in state.removed.lines]

        return await self._writer.write(who, if_match, step, needs=needs, **kw)

    async def restore_order(
        self, who: Shopper, order_id: str, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        ref = who.cart
        assert ref is not None and ref.kind == "u", "order lines belong to signed-in users"
        key = ref.order_key(order_id)

        def step(state: Loaded, snapshots: Snapshots) -> Change:
            item = state.others.get(key)
            order = self.store.parse_order_lines(item)
            if item is None or order is None:
                raise field_problem(
                    404,
                    f"No lines of order '{order_id}' to put back: the order is unknown, was "
                    "not cancelled, or its lines were already restored or kept too long.",
                    "body.order_id",
                    slug="order-lines-not-found",
                )
            cart, removed = restore_order(
                state.cart, state.removed, order, snapshots, self.store.now()
            )
            # Putting the lines back spends them, in the same write.
            return Change(cart, removed, [StateOp.remove(key, etag=item.etag)])

        def needs(state: Loaded) -> list[str]:
            order = self.store.parse_order_lines(state.others.get(key))
            return [line.product_id for line in order.lines] if order else []

        return await self._writer.write(who, if_match, step, needs=needs, others=[key], **kw)
