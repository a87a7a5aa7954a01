"""Placing an order, the checkout's first step: a part of `Orders` (service.py), which
holds the database, the upstreams and the limits it uses.

First the read-only calls (cart, catalog's prices, the address, a shipping quote); then
the order's row in status `placing`, under the shop's daily quota and the shopper's limits;
then the reservation at catalog; then the order opens, awaiting payment, with its events.
A placing that fails after its row exists releases the stock and forgets the row; one a
crash interrupts is finished by the sweeper (`Orders.abandon_stale`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.db import Database
from shopfleet.kit.quotas import QuotaReader
from shopfleet.kit.refusals import UnavailableRefusal
from shopfleet.kit.tenant_data import QuotaUsage, Usage
from shopfleet.orders.domain import checkout, pricing
from shopfleet.orders.domain.checkout import Draft
from shopfleet.orders.domain.order import OrderRecord
from shopfleet.orders.domain.refusals import OrderChanged, OrderInProgress
from shopfleet.orders.models import OrderCreate, OrderPublic
from shopfleet.orders.store import loads, placings, writes
from shopfleet.orders.upstreams import Upstreams

log = structlog.get_logger("shopfleet.orders")


class Placing:
    """The placing use case, mixed into `Orders` (see the module doc)."""

    # What `Orders` holds and placing uses.
    db: Database
    upstreams: Upstreams
    quotas: QuotaReader | None
    payment_window: timedelta
    max_unpaid_orders: int
    clock: Callable[[], float]

    def now(self) -> datetime:
        """The time by `clock` (every use case of `Orders` reads it here)."""
        return datetime.fromtimestamp(self.clock(), UTC)

    async def place(
        self, shop: str, principal: Principal, body: OrderCreate, key: str | None
    ) -> tuple[OrderPublic, bool]:
        """Place an order from the shopper's cart; (order, created). With an idempotency
        key, the same key by the same shopper answers the order it placed (created=False)."""
        user_id = principal.user_id
        digest = checkout.request_hash(body) if key else None
        for _ in range(3):  # a lost race on the key, whose winner then gave up: try again
            if key is not None:
                done = await self._replay(shop, user_id, key, digest)
                if done is not None:
                    return done, False
            draft = await self._gather(shop, user_id, body)
            placing = await self._insert_placing(draft, key, digest)
            if placing is not None:
                return await self._reserve_and_open(draft, placing), True
        raise OrderInProgress(
            "An order with this Idempotency-Key is being placed; retry in a few seconds."
        )

    async def _gather(self, shop: str, user_id: str, body: OrderCreate) -> Draft:
        """Read-only calls: cart lines (and the cart's version), catalog prices, the
        address, a shipping quote."""
        cart = await self.upstreams.cart_lines(shop, user_id)
        quantities = pricing.merge(cart.lines)
        pricing.check_cart(quantities)
        snapshots = await self.upstreams.products(shop, list(quantities))
        priced = pricing.price(quantities, snapshots)
        address = await self._address(
            shop, user_id, body.shipping_address, body.shipping_address_id
        )
        assert address is not None  # OrderCreate names exactly one
        request = checkout.quote_request(body.shipping_method, address, priced.lines)
        quote = await self.upstreams.quote(shop, request)
        version = checkout.cart_version(cart)
        return checkout.draft(
            shop, user_id, priced, address, quote, version, ordered_by=cart.ordered_by
        )

    async def _address(
        self, shop: str, user_id: str, given: Address | None, saved_id: str | None
    ) -> Address | None:
        """The address the request gives, or the shopper's saved one it names."""
        if given is not None or saved_id is None:
            return given
        return await self.upstreams.address(shop, user_id, saved_id)

    async def _insert_placing(
        self, draft: Draft, key: str | None, digest: str | None
    ) -> OrderRecord | None:
        """The order row in status `placing`, before any stock is reserved: if we crash
        after reserving, the sweeper finds it and releases. None: the key is taken.

        The shop's daily quota and the shopper's limits are decided under their locks, in
        the transaction that inserts (domain/checkout.py)."""
        now = self.now()
        per_day = await self._orders_per_day(draft.shop)
        try:
            async with self.db.session() as session, session.begin():
                if per_day is not None:
                    await placings.lock_daily_quota(session, draft.shop)
                    used = await placings.orders_today(session, draft.shop, now)
                    checkout.check_daily_quota(used, per_day, now)
                await placings.lock_shopper(session, draft.shop, draft.user_id)
                open_now = await placings.open_orders(session, draft.shop, draft.user_id)
                cap = self.max_unpaid_orders
                if not checkout.may_place(
                    open_now,
                    cart_version=draft.cart_version,
                    key=key,
                    cap=cap,
                    ordered_by=draft.ordered_by,
                ):
                    return None  # placed with this key meanwhile: answer that order
                return await placings.insert_placing(
                    session, draft, key=key, digest=digest, now=now
                )
        except IntegrityError:
            return None  # the key, or this cart's version, was taken meanwhile: look again

    async def _reserve_and_open(self, draft: Draft, placing: OrderRecord) -> OrderPublic:
        order_id = placing.id
        try:
            result = await self.upstreams.reserve(draft.shop, order_id, draft.reservation())
        except BaseException:
            await self._abandon(draft.shop, order_id)  # it may have been reserved all the same
            raise
        refused = checkout.reservation_refused(result, draft.priced.lines)
        if refused is not None:
            await self._abandon(draft.shop, order_id)
            raise refused
        try:
            return await self._open(placing)
        except BaseException:
            await self._abandon(draft.shop, order_id)
            raise

    async def _open(self, placing: OrderRecord) -> OrderPublic:
        """Stock is reserved: the order becomes `pending_payment` with its events.

        Neither the row nor its history is read back: the row is `placing` as inserted (the
        move is conditional on its status and version; only the sweeper, abandoning it,
        touches it meanwhile), and its one history row is the one this move writes."""
        now = self.now()
        decision = checkout.decide_open(placing, self.payment_window, now)
        try:
            async with self.db.session() as session, session.begin():
                opened = await writes.save(session, placing, decision, now)
        except OrderChanged:  # the sweeper gave up on it meanwhile
            raise checkout.placing_gone() from None
        return OrderPublic.of(opened, [writes.history_entry(placing, opened, decision, now)])

    async def _abandon(self, shop: str, order_id: str) -> None:
        """Undo a placing that failed: release whatever was reserved, forget the row. If
        catalog cannot be told now, the row stays for the sweeper (which retries)."""
        try:
            await self.upstreams.release(shop, order_id)
        except UnavailableRefusal:  # nothing was released: the row stays for the sweeper
            log.warning("release after a failed placing deferred", order_id=order_id)
            return
        async with self.db.session() as session, session.begin():
            await placings.forget_placing(session, shop, order_id)

    async def _replay(
        self, shop: str, user_id: str, key: str, digest: str | None
    ) -> OrderPublic | None:
        """The order this key placed (waiting while it is being placed); None if none."""
        deadline = time.monotonic() + self.upstreams.timeout_s * 3
        while True:
            async with self.db.reader() as session:
                found = await placings.find_by_key(session, shop, user_id, key)
                if found is None:
                    return None
                if checkout.placed_by_key(found, digest):
                    return await loads.public(session, found)
            if time.monotonic() > deadline:
                raise OrderInProgress(
                    "The order with this Idempotency-Key is still being placed; retry shortly."
                )
            await asyncio.sleep(0.02)

    async def usage(self, shop: str) -> Usage:
        """Today's orders (UTC) against `quotas.ordersPerDay`, the quota placing enforces."""
        limit = await self._orders_per_day(shop)
        async with self.db.reader() as session:
            used = await placings.orders_today(session, shop, self.now())
        return Usage(orders_today=QuotaUsage(used=used, limit=limit))

    async def _orders_per_day(self, shop: str) -> int | None:
        return (await self.quotas.get(shop)).orders_per_day if self.quotas else None
