"""The shopper's cart use cases: what each request does, from the rules and the store.

The rules are pure (domain/, views.py); every write takes one path (`Carts._write`): read
the cart (and a guest's cart to merge), check If-Match, look up prices *before* writing,
so that a catalog outage changes nothing; then let the store apply the merge and the
write's own step, retrying on conflicts; then render the result with the same lookup.
The checkout's use cases (orders' reads and events) are in checkout.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from shopfleet.cart.checkout import remember_order_lines
from shopfleet.cart.domain.checkout import LineLike, restore_order
from shopfleet.cart.domain.lines import add_line, set_quantity
from shopfleet.cart.domain.refusals import OrderLinesNotFound, StaleCart
from shopfleet.cart.domain.removed import clear_lines, merge_carts, remove_line, restore_removed
from shopfleet.cart.etags import IfMatch
from shopfleet.cart.keys import CartRef
from shopfleet.cart.models import RemovedLinesPublic, StoredCart, StoredRemoved
from shopfleet.cart.settings import ORDER_LINES_TTL_S
from shopfleet.cart.shopper import Shopper
from shopfleet.cart.store import CartStore, Change, Loaded
from shopfleet.cart.views import CartView, render_for, render_removed
from shopfleet.kit.blocks import StateOp
from shopfleet.kit.contracts.catalog import ProductSnapshot, Snapshots
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.refusals import UnavailableRefusal

# A write's own step: (current state after any merge, snapshots) -> Change.
Step = Callable[[Loaded, Snapshots], Change]
# The products a step needs priced besides the cart's: fixed, or read off the first read.
Needs = Sequence[str] | Callable[[Loaded], Sequence[str]]
Trace = Sequence[tuple[bytes, bytes]]


class Carts:
    """The shopper's cart use cases; one per app, built by `create_app`."""

    def __init__(
        self,
        store: CartStore,
        catalog: CatalogClient,
        *,
        order_lines_ttl_s: int = ORDER_LINES_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.order_lines_ttl_s = order_lines_ttl_s
        self._clock = clock

    async def remember_order_lines(
        self, shop: str, user_id: str, order_id: str, lines: Iterable[LineLike | Mapping[str, Any]]
    ) -> None:
        """`remember_order_lines` with this app's TTL and clock."""
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
            # Signed in with a guest's cart: merging it is a write (with no step of its own).
            return await self._write(who, None, lambda state, _: Change(state.cart), trace=trace)
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

        return await self._write(who, if_match, step, needs=[product_id], **kw)

    async def set_quantity(
        self, who: Shopper, product_id: str, quantity: int, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        def step(state: Loaded, snapshots: Snapshots) -> Change:
            return Change(set_quantity(state.cart, product_id, quantity, snapshots.get(product_id)))

        return await self._write(who, if_match, step, needs=[product_id], **kw)

    async def remove(
        self, who: Shopper, product_id: str, if_match: IfMatch | None, **kw: Any
    ) -> CartView:
        def step(state: Loaded, _: Snapshots) -> Change:
            cart, removed = remove_line(state.cart, state.removed, product_id, self.store.now())
            return Change(cart, removed)

        return await self._write(who, if_match, step, **kw)

    async def clear(self, who: Shopper, if_match: IfMatch | None, **kw: Any) -> CartView:
        def step(state: Loaded, _: Snapshots) -> Change:
            cart, removed = clear_lines(state.cart, state.removed, self.store.now())
            return Change(cart, removed)

        return await self._write(who, if_match, step, lookup=False, **kw)

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

        return await self._write(who, if_match, step, needs=needs, **kw)

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
                raise OrderLinesNotFound(
                    f"No lines of order '{order_id}' to put back: the order is unknown, was "
                    "not cancelled, or its lines were already restored or kept too long.",
                    "body.order_id",
                )
            cart, removed = restore_order(
                state.cart, state.removed, order, snapshots, self.store.now()
            )
            # Putting the lines back spends them, in the same write.
            return Change(cart, removed, [StateOp.remove(key, etag=item.etag)])

        def needs(state: Loaded) -> list[str]:
            order = self.store.parse_order_lines(state.others.get(key))
            return [line.product_id for line in order.lines] if order else []

        return await self._write(who, if_match, step, needs=needs, others=[key], **kw)

    # ------------------------------------------------------------------------- the write path

    async def _write(
        self,
        who: Shopper,
        if_match: IfMatch | None,
        step: Step,
        *,
        needs: Needs = (),
        others: Sequence[str] = (),
        lookup: bool = True,
        trace: Trace = (),
    ) -> CartView:
        """Apply `step` to `who`'s cart (reading `others` along with it); `lookup=False`
        skips the price lookup before writing, for a step that needs no prices."""
        ref, merges = who.cart, who.merges
        assert ref is not None, "a write needs a cart: the API issues an anonymous id first"
        keys = [*others, *([merges.key, merges.removed_key] if merges else [])]
        first = await self.store.load(ref, removed=True, others=keys)
        if if_match is not None and not if_match.matches(first.etag):
            raise StaleCart()  # before asking catalog anything
        snapshots: dict[str, ProductSnapshot] = {}
        if lookup:
            wanted = self._wanted(first, merges, needs)
            if wanted:
                snapshots = await self.catalog.lookup(who.shop, wanted, headers=trace)
        merged_id: str | None = None

        def change(state: Loaded) -> Change:
            nonlocal merged_id  # of the attempt that was stored: the last one
            merged_id = None
            ops: list[StateOp] = []
            if merges is not None and (merged := self._merge_guest(state, merges)):
                state, ops = merged
                merged_id = merges.owner_id
            done = step(state, snapshots)
            # The shopper wrote: the cart is no longer as an order emptied it.
            stamp = {"updated_at": self.store.now(), "ordered": None}
            removed = done.removed
            if removed is None and merged_id is not None:
                removed = state.removed  # the merge changed them
            return Change(done.cart.model_copy(update=stamp), removed, [*ops, *done.ops])

        saved = await self.store.write(ref, change, if_match=if_match, others=keys, first=first)
        missing = [pid for pid in saved.cart.product_ids if pid not in snapshots]
        if missing:
            # Lines another request added meanwhile (or a skipped lookup): price them too. If
            # catalog fails now, the write stands; those lines show as unavailable until the
            # next read.
            with contextlib.suppress(UnavailableRefusal):
                snapshots.update(await self.catalog.lookup(who.shop, missing, headers=trace))
        expires_at = self.store.expires_at(ref, saved.cart)
        cart = render_for(
            who, saved.cart, snapshots, expires_at=expires_at, merged_cart_id=merged_id
        )
        return CartView(cart, saved.etag)

    def _wanted(self, first: Loaded, merges: CartRef | None, needs: Needs) -> list[str]:
        wanted = [*first.cart.product_ids, *(needs(first) if callable(needs) else needs)]
        if merges is not None:
            wanted += self.store.parse_cart(first.others.get(merges.key)).product_ids
        return list(dict.fromkeys(wanted))

    def _merge_guest(self, state: Loaded, guest: CartRef) -> tuple[Loaded, list[StateOp]] | None:
        """`state` with the guest's cart read along with it merged in, and the ops that
        delete that cart in the same write; None when there is no such cart (any more)."""
        other = state.others.get(guest.key)
        if other is None:
            return None
        cart, removed = merge_carts(
            state.cart,
            state.removed,
            self.store.parse_cart(other),
            self.store.parse_removed(state.others.get(guest.removed_key)),
            self.store.now(),
        )
        # Deleting the guest's cart on its ETag: a concurrent write to it retries the merge.
        ops = [StateOp.remove(guest.key, etag=other.etag), StateOp.remove(guest.removed_key)]
        return replace(state, cart=cart, removed=removed), ops
