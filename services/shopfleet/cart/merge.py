"""Merging an anonymous cart (and its removed lines) into a signed-in user's cart."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shopfleet.cart.keys import CartRef
from shopfleet.cart.lines import put_back
from shopfleet.cart.models import MAX_REMOVED, RemovedLine, StoredCart, StoredRemoved
from shopfleet.cart.removed import remember_removed
from shopfleet.cart.store import CartStore, Loaded
from shopfleet.kit.blocks import StateOp


def merge_carts(
    cart: StoredCart,
    removed: StoredRemoved,
    other: StoredCart,
    other_removed: StoredRemoved,
    now: datetime,
) -> tuple[StoredCart, StoredRemoved]:
    """Merge an anonymous cart (and its removed lines) into a user's cart."""
    merged, leftovers = put_back(cart, other.lines)
    latest: dict[str, RemovedLine] = {}
    for line in [*removed.lines, *other_removed.lines]:
        kept = latest.get(line.product_id)
        if kept is None or line.removed_at > kept.removed_at:
            latest[line.product_id] = line
    lines = sorted(latest.values(), key=lambda line: line.removed_at, reverse=True)
    return merged, remember_removed(StoredRemoved(lines=lines[:MAX_REMOVED]), leftovers, now)


def merge_anonymous(
    store: CartStore, state: Loaded, anonymous: CartRef
) -> tuple[Loaded, list[StateOp]] | None:
    """`state` with the anonymous cart read along with it merged in, and the ops that delete
    that cart in the same write; None when there is no such cart (any more)."""
    other = state.others.get(anonymous.key)
    if other is None:
        return None
    cart, removed = merge_carts(
        state.cart,
        state.removed,
        store.parse_cart(other),
        store.parse_removed(state.others.get(anonymous.removed_key)),
        store.now(),
    )
    # Deleting the anonymous cart on its ETag: a concurrent write to it retries the merge.
    ops = [StateOp.remove(anonymous.key, etag=other.etag), StateOp.remove(anonymous.removed_key)]
    return replace(state, cart=cart, removed=removed), ops
