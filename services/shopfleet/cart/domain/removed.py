"""Removed lines: what removing and clearing keep, putting those lines back, and merging
a guest's cart (and its removed lines) into a signed-in user's.

Pure, like lines.py. Removed lines are kept newest first, one per product, at most
MAX_REMOVED; the store ages each out after `removed_ttl_s`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shopfleet.cart.domain.lines import line_in, put_back, with_lines
from shopfleet.cart.domain.refusals import CartFull, NotRemoved
from shopfleet.cart.models import (
    MAX_LINES,
    MAX_REMOVED,
    RemovedLine,
    StoredCart,
    StoredLine,
    StoredRemoved,
)


def remove_line(
    cart: StoredCart, removed: StoredRemoved, product_id: str, now: datetime
) -> tuple[StoredCart, StoredRemoved]:
    line = line_in(cart, product_id)
    kept = [other for other in cart.lines if other.product_id != product_id]
    return with_lines(cart, kept), remember_removed(removed, [line], now)


def clear_lines(
    cart: StoredCart, removed: StoredRemoved, now: datetime
) -> tuple[StoredCart, StoredRemoved]:
    return with_lines(cart, []), remember_removed(removed, cart.lines, now)


def remember_removed(
    removed: StoredRemoved, lines: Sequence[StoredLine], now: datetime
) -> StoredRemoved:
    """Put `lines` at the front of the removed lines (one entry per product, newest 50)."""
    if not lines:
        return removed
    # A removed line is the cart's line as it was, plus when it was removed.
    fresh = [RemovedLine(**dict(line), removed_at=now) for line in lines]
    ids = {line.product_id for line in fresh}
    older = [line for line in removed.lines if line.product_id not in ids]
    return StoredRemoved(lines=[*fresh, *older][:MAX_REMOVED])


def restore_removed(
    cart: StoredCart, removed: StoredRemoved, product_ids: Sequence[str] | None
) -> tuple[StoredCart, StoredRemoved]:
    """Put removed lines back (all when `product_ids` is None): all of them or none."""
    if product_ids is None:
        product_ids = [line.product_id for line in removed.lines]
    else:
        missing = [pid for pid in product_ids if removed.line(pid) is None]
        if missing:
            raise NotRemoved(
                f"Not among your removed lines (or kept too long): {', '.join(missing)}. "
                "GET /cart/removed lists what can be restored.",
                "body.product_ids",
                missing=missing,
            )
    wanted = set(product_ids)
    new_lines = [pid for pid in wanted if cart.line(pid) is None]
    room = MAX_LINES - len(cart.lines)
    if len(new_lines) > room:
        raise CartFull(
            f"The cart has room for {room} more products and this would add {len(new_lines)}; "
            "restore fewer (product_ids) or remove lines first.",
            "body.product_ids",
            max_lines=MAX_LINES,
        )
    back = [
        StoredLine.model_validate(line, from_attributes=True)
        for line in removed.lines
        if line.product_id in wanted
    ]
    restored, leftovers = put_back(cart, back)
    assert not leftovers  # the room was checked above
    return restored, StoredRemoved(
        lines=[line for line in removed.lines if line.product_id not in wanted]
    )


def merge_carts(
    cart: StoredCart,
    removed: StoredRemoved,
    other: StoredCart,
    other_removed: StoredRemoved,
    now: datetime,
) -> tuple[StoredCart, StoredRemoved]:
    """Merge a guest's cart (and its removed lines) into a user's: quantities add up (at
    most 99 a line), what finds no room joins the removed lines, and of two removed lines
    of one product the later stays."""
    merged, leftovers = put_back(cart, other.lines)
    latest: dict[str, RemovedLine] = {}
    for line in [*removed.lines, *other_removed.lines]:
        kept = latest.get(line.product_id)
        if kept is None or line.removed_at > kept.removed_at:
            latest[line.product_id] = line
    lines = sorted(latest.values(), key=lambda line: line.removed_at, reverse=True)
    return merged, remember_removed(StoredRemoved(lines=lines[:MAX_REMOVED]), leftovers, now)
