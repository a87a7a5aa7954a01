"""Orders' use cases: load (store) -> decide (domain) -> store + outbox, one transaction each.

The rules live in `domain/`, the SQL in `store/`; here only the order of things: what is
read, which calls are made outside any transaction, what commits together. Calls to
catalog about stock never run inside a transaction: a decision records what catalog must
be told, and `settle_stock` tells it after the commit; the sweeper retries what a crash
or an outage left pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.orders import ORDER_ID_PATTERN, OrderSummary
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError
from shopfleet.kit.quotas import QuotaReader
from shopfleet.kit.reads import FastReader
from shopfleet.orders import order_reads
from shopfleet.orders.domain import access, checkout, pricing, saga
from shopfleet.orders.domain.order import Decision, OrderRecord, Stock
from shopfleet.orders.models import OrderPublic, OrdersPage, OrderUpdate
from shopfleet.orders.placing import Placing
from shopfleet.orders.store import loads, stock, sweeps, writes
from shopfleet.orders.upstreams import Upstreams

log = structlog.get_logger("shopfleet.orders")


class _AboutAnOrder(Protocol):
    @property
    def order_id(self) -> str: ...


Event = TypeVar("Event", bound=_AboutAnOrder)


def _caller(principal: Principal) -> access.Caller:
    return access.Caller(user_id=principal.user_id, is_admin=principal.is_admin)


class Orders(Placing):
    """Orders of every shop: the use cases the API, the event handlers and the sweeper call
    (placing one is in placing.py)."""

    def __init__(
        self,
        db: Database,
        upstreams: Upstreams,
        reads: FastReader,
        *,
        payment_window: timedelta,
        placing_timeout: timedelta,
        max_unpaid_orders: int = 3,
        quotas: QuotaReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.upstreams, self.reads = db, upstreams, reads
        self.fast = loads.FastReads(reads)
        self.quotas = quotas
        self.payment_window, self.placing_timeout = payment_window, placing_timeout
        self.max_unpaid_orders = max_unpaid_orders
        self.clock = clock

    # ------------------------------------------------------------------------- reads

    async def get(self, shop: str, principal: Principal, order_id: str) -> OrderPublic:
        # The read a shop's page polls while payment settles: on the fast read path. The
        # order first, then its history: a transition writes both in one transaction, so
        # the history read after it always holds the status it shows.
        found = await self.fast.order(shop, order_id)
        order = access.visible(found, _caller(principal), order_id)
        return OrderPublic.of(order, await self.fast.history(shop, order_id))

    async def read_json(self, shop: str, principal: Principal, order_id: str) -> bytes:
        """`get`'s answer as JSON, built from the rows (no model): what the route sends."""
        return await order_reads.read_order(self.reads, shop, order_id, _caller(principal))

    async def summary(self, shop: str, order_id: str) -> OrderSummary:
        found = await self.fast.headline(shop, order_id)
        return access.summary_for_payments(found, shop, order_id)

    async def list_orders(
        self,
        shop: str,
        principal: Principal,
        *,
        limit: int,
        cursor: str | None,
        status: str | None,
        user: str | None,
    ) -> OrdersPage:
        """Newest first. A shopper sees their own orders; an admin all, or one user's."""
        user = access.listed_user(_caller(principal), user)
        after = None if cursor is None else PageEnd.from_cursor(cursor, ORDER_ID_PATTERN)
        page = loads.ListQuery(shop=shop, user=user, status=status, after=after, limit=limit)
        async with self.db.reader() as session:
            items = await loads.list_page(session, page)
        if len(items) <= limit:
            return OrdersPage(items=items)
        last = items[limit - 1]
        next_cursor = PageEnd(last.placed_at, last.id).cursor()
        return OrdersPage(items=items[:limit], next_cursor=next_cursor)

    # ------------------------------------------------------------------------- update, cancel

    async def update(
        self, shop: str, principal: Principal, order_id: str, body: OrderUpdate
    ) -> OrderPublic:
        """Change the address and/or method of an unpaid order; it is re-quoted.

        A PaymentIntent created before this change charges the old total: payments reads
        the order's summary when it creates (or re-creates) an intent.
        """
        caller = _caller(principal)
        async with self.db.reader() as session:
            read = access.visible(await loads.load(session, shop, order_id), caller, order_id)
        checkout.check_editable(read)
        method = body.shipping_method or read.shipping_method_id
        given = body.shipping_address, body.shipping_address_id
        address = await self._address(shop, read.user_id, *given) or read.shipping_address
        quote = await self.upstreams.quote(
            shop, checkout.quote_request(method, address, read.lines)
        )
        total = pricing.total(read.money(read.subtotal_amount), quote.cost)
        async with self.db.session() as session, session.begin():
            found = await loads.load(session, shop, order_id, lock=True)
            order = access.visible(found, caller, order_id)
            requote = checkout.Requote(quote=quote, address=address, total=total)
            decision = checkout.decide_requote(order, requote, read.version, caller.user_id)
            stored = await writes.save(session, order, decision, self.now())
            return await loads.public(session, stored)

    async def cancel(
        self, shop: str, principal: Principal, order_id: str, reason: str | None
    ) -> OrderPublic:
        caller = _caller(principal)
        async with self.db.session() as session, session.begin():
            found = await loads.load(session, shop, order_id, lock=True)
            order = access.visible(found, caller, order_id)
            now = self.now()
            await writes.save(session, order, saga.decide_cancel(order, caller, reason, now), now)
        await self.settle_stock(shop, order_id)
        return await self.get(shop, principal, order_id)

    # ------------------------------------------------------------------------- stock

    async def settle_stock(self, shop: str, order_id: str, left: Stock | None = None) -> None:
        """Tell catalog what the order's `stock` says is pending; never raises (the
        sweeper retries what could not be done now). `left`: the stock a change committed
        just now left (not read again); None: read it."""
        try:
            await self._settle_stock(stock.OrderKey(shop, order_id), left)
        except Exception:
            log.warning("stock settlement deferred", order_id=order_id, exc_info=True)

    async def _settle_stock(self, key: stock.OrderKey, left: Stock | None) -> None:
        if left is None:
            left = await self.fast.stock(key.shop, key.order_id)
        pending = saga.stock_call(left)
        if pending is None:
            return
        settled = saga.stock_settled(pending, await self._tell_catalog(key, pending))
        if pending == Stock.COMMIT_PENDING and settled == Stock.RELEASED:
            log.error("a paid order's reservation was gone at commit", order_id=key.order_id)
        async with self.db.session() as session, session.begin():
            recorded = await stock.set_stock(session, key, was=pending, now=settled)
            if recorded and settled == Stock.KEPT:
                order = await loads.load(session, key.shop, key.order_id)
                if order is not None:
                    await writes.save(session, order, saga.decide_stock_kept(order), self.now())

    async def _tell_catalog(self, key: stock.OrderKey, pending: Stock) -> str:
        if pending == Stock.COMMIT_PENDING:
            return await self.upstreams.commit(key.shop, key.order_id)
        return await self.upstreams.release(key.shop, key.order_id)

    # ------------------------------------------------------------------------- sweeper

    async def sweep(self) -> dict[str, int]:
        """One round: expire unpaid orders, retry pending stock calls, forget placings
        that were abandoned. Safe with several replicas at once."""
        expired = await self.expire_due()
        settled = await self.retry_stock()
        abandoned = await self.abandon_stale()
        return {"expired": expired, "settled": settled, "abandoned": abandoned}

    async def expire_due(self, batch: int = 100) -> int:
        now = self.now()
        expired: list[stock.OrderKey] = []
        async with self.db.session() as session, session.begin():
            for order in await sweeps.due_for_expiry(session, now, batch):
                decision = saga.decide_expiry(order, self.payment_window, now)
                await writes.save(session, order, decision, now)
                expired.append(stock.OrderKey(order.shop, order.id))
        for key in expired:
            await self.settle_stock(key.shop, key.order_id)
        return len(expired)

    async def retry_stock(self, batch: int = 100) -> int:
        async with self.db.reader() as session:
            pending = await stock.stock_pending(session, batch)
        for key in pending:
            await self.settle_stock(key.shop, key.order_id)
        return len(pending)

    async def abandon_stale(self, batch: int = 100) -> int:
        async with self.db.reader() as session:
            stale = await sweeps.stale_placings(session, self.now() - self.placing_timeout, batch)
        for key in stale:
            await self._abandon(key.shop, key.order_id)
        return len(stale)

    # ------------------------------------------------------------------------- events

    async def _react(
        self,
        session: AsyncSession,
        shop: str,
        event: Event,
        decide: Callable[[OrderRecord, Event, datetime], Decision],
    ) -> Stock:
        """One step of the saga, in the event handler's transaction (its inbox row too);
        the stock state it leaves (what catalog must be told once it commits)."""
        order = await loads.load(session, shop, event.order_id, lock=True)
        if order is None:
            raise PermanentEventError(f"no order '{event.order_id}' in shop '{shop}'")
        now = self.now()
        decision = decide(order, event, now)
        if decision.warning:
            log.warning(decision.warning, order_id=order.id, note=decision.note)
        return (await writes.save(session, order, decision, now)).stock

    async def on_payment_succeeded(
        self, session: AsyncSession, shop: str, payment: ev.PaymentSucceeded
    ) -> Stock:
        return await self._react(session, shop, payment, saga.decide_payment_succeeded)

    async def on_payment_failed(
        self, session: AsyncSession, shop: str, failure: ev.PaymentFailed
    ) -> Stock:
        return await self._react(session, shop, failure, saga.decide_payment_failed)

    async def on_payment_refunded(
        self, session: AsyncSession, shop: str, refund: ev.PaymentRefunded
    ) -> Stock:
        return await self._react(session, shop, refund, saga.decide_payment_refunded)

    async def on_shipment_created(
        self, session: AsyncSession, shop: str, shipment: ev.ShipmentCreated
    ) -> Stock:
        return await self._react(session, shop, shipment, saga.decide_shipment_created)

    async def on_shipment_status_changed(
        self, session: AsyncSession, shop: str, change: ev.ShipmentStatusChanged
    ) -> Stock | None:
        if not saga.shipment_moves_orders(change.status):  # other statuses: not even a lookup
            return None
        return await self._react(session, shop, change, saga.decide_shipment_status_changed)
