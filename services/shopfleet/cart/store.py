"""All of the cart's state-store access: carts with TTLs and optimistic read-modify-write,
and the keys beside them (removed lines, a cancelled order's lines, the inbox; keys.py).

Every write refreshes the cart's TTL (`user_ttl_s` or `anonymous_ttl_s`); a write of the
removed lines refreshes theirs (`removed_ttl_s`), and each removed line also ages out on
its own `removed_ttl_s` after its removal.

Concurrency. A change is a function of what was read; `CartStore.write` applies it with
the cart's ETag and, when another writer got there first (`ETagMismatch`), reads again and
re-applies it: bounded attempts with jittered back-off, then 409. No update is lost, and
none is applied twice. With `If-Match` it makes one attempt against the client's ETag and
answers 412 when the cart has changed. The removed lines and any other key a change
touches are written in the same transaction as the cart, so the cart's ETag orders them.

Creation. The port has no "create only if absent" (a save without ETag overwrites), so two
first writes to a cart that does not exist yet could lose one. A creating write therefore
reads the cart's anchor key, then re-reads the cart, and writes the cart in one transaction
with a compare-and-set on the anchor: of two creators the second finds the anchor changed,
retries, and now sees the cart. The anchor's value means nothing; an overwrite of it only
costs a retry.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from shopfleet.cart.domain.refusals import CartBusy, StaleCart
from shopfleet.cart.etags import IfMatch
from shopfleet.cart.keys import CartRef, inbox_key
from shopfleet.cart.models import StoredCart, StoredOrderLines, StoredRemoved
from shopfleet.kit.blocks import ETagMismatch, StateItem, StateOp, StateStore
from shopfleet.kit.contracts.ids import REFERENCE_PATTERN

log = structlog.get_logger("shopfleet.cart.store")

MAX_BACKOFF_S = 0.25

Document = TypeVar("Document", bound=BaseModel)


@dataclass(slots=True)
class Loaded:
    """One consistent read: the cart (empty when absent), its ETag, and what else was read."""

    cart: StoredCart
    etag: str | None
    removed: StoredRemoved = field(default_factory=StoredRemoved)
    others: dict[str, StateItem] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.etag is not None


@dataclass(slots=True)
class Change:
    """What a write stores: the new cart, the new removed lines (None: unchanged) and any
    other ops (e.g. deleting a merged anonymous cart), all in one transaction."""

    cart: StoredCart
    removed: StoredRemoved | None = None
    ops: Sequence[StateOp] = ()


@dataclass(frozen=True, slots=True)
class Saved:
    cart: StoredCart
    etag: str | None


def _parse(model: type[Document], item: StateItem | None, problem: str) -> Document | None:
    """The stored document; None when absent, or unreadable (e.g. a foreign writer's): then
    logged as `problem`."""
    if item is None:
        return None
    try:
        return model.model_validate(item.value)
    except ValidationError as exc:
        log.warning(problem, key=item.key, error=str(exc)[:300])
        return None


def inbox_mark(consumer: str, shop: str, event_id: str, at: datetime, ttl_s: int) -> StateOp:
    """The inbox's mark that `consumer` handled `event_id`, to write with the change."""
    key = inbox_key(consumer, shop, event_id)
    return StateOp.upsert(key, {"handled_at": at.isoformat()}, ttl_s=ttl_s)


def order_lines_op(shop: str, user_id: str, doc: StoredOrderLines, ttl_s: int) -> StateOp:
    """Keeping a cancelled order's lines under its shopper's cart. Raises ValueError for an
    order id our keys cannot hold."""
    if not re.fullmatch(REFERENCE_PATTERN, doc.order_id):
        raise ValueError(f"order id {doc.order_id!r} does not match {REFERENCE_PATTERN}")
    key = CartRef.user(shop, user_id).order_key(doc.order_id)
    return StateOp.upsert(key, doc.model_dump(mode="json"), ttl_s=ttl_s)


class CartStore:
    def __init__(
        self,
        state: StateStore,
        *,
        user_ttl_s: int,
        anonymous_ttl_s: int,
        removed_ttl_s: int,
        attempts: int = 10,
        backoff_s: float = 0.005,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.user_ttl_s = user_ttl_s
        self.anonymous_ttl_s = anonymous_ttl_s
        self.removed_ttl_s = removed_ttl_s
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._clock = clock
        # Writes to one cart from this process queue here instead of racing on the ETag (the
        # retry loop still settles races with other processes). Unused locks are collected.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def cart_ttl_s(self, ref: CartRef) -> int:
        return self.user_ttl_s if ref.kind == "u" else self.anonymous_ttl_s

    def expires_at(self, ref: CartRef, cart: StoredCart) -> datetime | None:
        """When the cart expires unless written to (None: it was never written)."""
        if cart.updated_at is None:
            return None
        return cart.updated_at + timedelta(seconds=self.cart_ttl_s(ref))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # ------------------------------------------------------------------------- reads

    async def load(
        self, ref: CartRef, *, removed: bool = False, others: Iterable[str] = ()
    ) -> Loaded:
        keys = [ref.key, *([ref.removed_key] if removed else []), *others]
        items = await self.state.get_bulk(keys)
        item = items.pop(ref.key, None)
        loaded = Loaded(cart=self.parse_cart(item), etag=item.etag if item else None, others=items)
        if removed:
            loaded.removed = self.parse_removed(items.pop(ref.removed_key, None))
        return loaded

    def parse_cart(self, item: StateItem | None) -> StoredCart:
        # An unreadable cart starts afresh: the next write replaces it.
        cart = _parse(StoredCart, item, "unreadable cart, treated as empty")
        return cart if cart is not None else StoredCart()

    def parse_removed(self, item: StateItem | None) -> StoredRemoved:
        removed = _parse(StoredRemoved, item, "unreadable removed lines, dropped")
        if removed is None:
            return StoredRemoved()
        oldest = self.now() - timedelta(seconds=self.removed_ttl_s)
        return StoredRemoved(lines=[line for line in removed.lines if line.removed_at > oldest])

    def parse_order_lines(self, item: StateItem | None) -> StoredOrderLines | None:
        return _parse(StoredOrderLines, item, "unreadable order lines")

    async def handled(self, mark: StateOp) -> bool:
        """Whether the inbox holds `mark` (see `inbox_mark`): its event was handled before."""
        return await self.state.get(mark.key) is not None

    # ------------------------------------------------------------------------- writes

    async def transact(self, ops: Sequence[StateOp]) -> None:
        """Ops on keys beside any cart (order lines, inbox marks), in one transaction."""
        await self.state.transact(list(ops))

    async def write(
        self,
        ref: CartRef,
        change: Callable[[Loaded], Change],
        *,
        if_match: IfMatch | None = None,
        others: Sequence[str] = (),
        first: Loaded | None = None,
    ) -> Saved:
        """Apply `change` to the current cart and store it; see the module's docstring.

        `change` is called with what was just read (with the removed lines and `others`)
        and may be called again after a conflict, so it must not have side effects; a
        Problem it raises is answered and nothing is written. `first` is a read the caller
        already made (with `removed=True` and the same `others`), used for the first attempt.
        """
        lock = self._locks.get(ref.key)
        if lock is None:
            lock = self._locks[ref.key] = asyncio.Lock()
        if lock.locked():
            first = None  # another write to this cart is under way: what was read is stale
        async with lock:
            return await self._write(ref, change, if_match, others, first)

    async def _write(
        self,
        ref: CartRef,
        change: Callable[[Loaded], Change],
        if_match: IfMatch | None,
        others: Sequence[str],
        loaded: Loaded | None,
    ) -> Saved:
        for attempt in range(self._attempts):
            if loaded is None:
                loaded = await self.load(ref, removed=True, others=others)
            if if_match is not None and not if_match.matches(loaded.etag):
                raise StaleCart()
            plan = change(loaded)  # may raise before anything is written
            anchor: str | None = None
            if not loaded.exists:
                anchor = await self._anchor(ref)
                loaded = await self.load(ref, removed=True, others=others)  # after the anchor
                plan = change(loaded)
            try:
                return await self._apply(ref, loaded, plan, anchor)
            except ETagMismatch:
                if if_match is not None:
                    raise StaleCart() from None
                loaded = None
                pause = min(self._backoff_s * 2**attempt, MAX_BACKOFF_S)
                await asyncio.sleep(random.uniform(0, pause))
        log.warning("cart write gave up under contention", key=ref.key, attempts=self._attempts)
        raise CartBusy()

    async def _anchor(self, ref: CartRef) -> str:
        item = await self.state.get(ref.anchor_key)
        if item is not None:
            return item.etag
        return await self.state.save(ref.anchor_key, {"rev": ""}, ttl_s=self.cart_ttl_s(ref))

    async def _apply(self, ref: CartRef, loaded: Loaded, plan: Change, anchor: str | None) -> Saved:
        cart = plan.cart.model_copy(update={"rev": uuid.uuid4().hex})
        value = cart.model_dump(mode="json")
        ttl_s = self.cart_ttl_s(ref)
        if loaded.exists and plan.removed is None and not plan.ops:
            # The common case touches the cart alone: one compare-and-set that returns the ETag.
            etag = await self.state.save(ref.key, value, etag=loaded.etag, ttl_s=ttl_s)
            return Saved(cart, etag)
        ops: list[StateOp] = []
        if loaded.exists:
            ops.append(StateOp.upsert(ref.key, value, etag=loaded.etag, ttl_s=ttl_s))
        else:
            ops.append(StateOp.upsert(ref.anchor_key, {"rev": cart.rev}, etag=anchor, ttl_s=ttl_s))
            ops.append(StateOp.upsert(ref.key, value, ttl_s=ttl_s))
        if plan.removed is not None:
            if plan.removed.lines:
                removed = plan.removed.model_dump(mode="json")
                ops.append(StateOp.upsert(ref.removed_key, removed, ttl_s=self.removed_ttl_s))
            else:
                ops.append(StateOp.remove(ref.removed_key))
        ops.extend(plan.ops)
        await self.state.transact(ops)
        # `transact` returns no ETags: read the cart back. Its `rev` tells whether the ETag
        # is this write's; if a later write got in between, answer with that one (body and
        # ETag still belong together).
        item = await self.state.get(ref.key)
        if item is None:
            return Saved(cart, None)
        return Saved(self.parse_cart(item), item.etag)
