"""The one path every cart write takes.

Read the cart (and an anonymous cart to merge), check If-Match, look up prices *before*
writing, so that a catalog outage changes nothing; then let the store apply the merge and
the write's own step, retrying on conflicts; then render the result with the same lookup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from shopfleet.cart.etags import IfMatch
from shopfleet.cart.keys import CartRef
from shopfleet.cart.merge import merge_anonymous
from shopfleet.cart.problems import StaleCart
from shopfleet.cart.shopper import Shopper
from shopfleet.cart.store import CartStore, Change, Loaded
from shopfleet.cart.views import CartView, render_for
from shopfleet.kit.blocks import StateOp
from shopfleet.kit.contracts.catalog import ProductSnapshot, Snapshots
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.refusals import UnavailableRefusal

# A write's own step: (current state after any merge, snapshots) -> Change.
Step = Callable[[Loaded, Snapshots], Change]
# The products a step needs priced besides the cart's: fixed, or read off the first read.
Needs = Sequence[str] | Callable[[Loaded], Sequence[str]]
Trace = Sequence[tuple[bytes, bytes]]


class CartWriter:
    def __init__(self, store: CartStore, catalog: CatalogClient) -> None:
        self.store = store
        self.catalog = catalog

    async def write(
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
            if merges is not None and (merged := merge_anonymous(self.store, state, merges)):
                state, ops = merged
                merged_id = merges.owner_id
            done = step(state, snapshots)
            cart = done.cart.model_copy(update={"updated_at": self.store.now()})
            removed = done.removed
            if removed is None and merged_id is not None:
                removed = state.removed  # the merge changed them
            return Change(cart, removed, [*ops, *done.ops])

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
