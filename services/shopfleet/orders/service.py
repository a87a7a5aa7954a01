"""The order lifecycle: placing, reading, re-quoting, cancelling, expiring; the saga's steps.

Every status change goes through `TRANSITIONS` (the one table of allowed moves) and
`_transition`, a conditional UPDATE on the row's status and version that also writes the
history row and `order.status_changed` to the outbox, in the caller's transaction. Rows
are locked (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serializes writers)
before a decision, so a cancel racing a payment sees the other's outcome.

Calls to catalog about stock never run inside a transaction: a decision records what
catalog must be told (`stock = release_pending | commit_pending`), and `settle_stock`
tells it after the commit. The sweeper retries what a crash or an outage left pending.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.catalog import ReservationLine, ReserveRequest
from shopfleet.kit.contracts.orders import ORDER_ID_PATTERN, OrderSummary
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteLine, QuoteRequest
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import Database
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.kit.money import Money
from shopfleet.kit.outbox import Outbox, PermanentEventError
from shopfleet.kit.reads import FastReader
from shopfleet.orders import limits, pricing
from shopfleet.orders.clients import RETRY_AFTER_S, Unavailable, Upstreams
from shopfleet.orders.models import (
    HISTORY,
    ORDERS,
    PLACING,
    HistoryEntry,
    OrderCreate,
    OrderLine,
    OrderListItem,
    OrderPublic,
    OrdersPage,
    OrderUpdate,
    ShippingChoice,
    new_id,
)

log = structlog.get_logger("shopfleet.orders")

SYSTEM = "system"  # the actor of transitions nobody asked for (events, expiry)

# ----------------------------------------------------------------------------- the rules

# The one table of allowed status moves. `placing` is internal (never shown).
TRANSITIONS: dict[str, frozenset[str]] = {
    PLACING: frozenset({"pending_payment"}),
    "pending_payment": frozenset({"paid", "cancelled", "payment_failed"}),
    "paid": frozenset({"fulfilling", "shipped", "delivered", "cancelled", "refunded"}),
    "fulfilling": frozenset({"shipped", "delivered", "cancelled", "refunded"}),
    "shipped": frozenset({"delivered", "cancelled", "refunded"}),
    "delivered": frozenset({"cancelled", "refunded"}),
    "cancelled": frozenset({"refunded"}),  # a paid order, cancelled, then refunded in full
    "payment_failed": frozenset({"refunded"}),  # a late payment, refunded
    "refunded": frozenset(),
}
PAID_STATUSES = frozenset({"paid", "fulfilling", "shipped", "delivered"})
SHIPPED_STATUSES = frozenset({"shipped", "delivered"})  # the goods left the warehouse
ENDED_STATUSES = frozenset({"cancelled", "payment_failed", "refunded"})
# Who may cancel from which status: a shopper until the order ships, an admin always.
USER_CANCELLABLE = frozenset({"pending_payment", "paid", "fulfilling"})
ADMIN_CANCELLABLE = frozenset({"pending_payment", "paid", "fulfilling", "shipped", "delivered"})
# Shipping's statuses that move the order (forward only: the table forbids going back).
SHIPMENT_STATUS_TO_ORDER = {"shipped": "shipped", "in_transit": "shipped", "delivered": "delivered"}


def stock_after_end(status: str, stock: str) -> str:
    """Where the stock of an order that ends (cancelled, failed, refunded) in `status`
    goes: back on sale while the goods are in the warehouse (catalog's release frees
    reserved units and puts committed ones back on hand); once shipped, they stay out (a
    return is restocked by hand) and a pending commit still happens."""
    if status in SHIPPED_STATUSES:
        return stock
    if stock in ("reserved", "commit_pending", "committed"):
        return "release_pending"
    return stock


def may_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def may_cancel(status: str, *, admin: bool) -> bool:
    return status in (ADMIN_CANCELLABLE if admin else USER_CANCELLABLE)


def request_hash(body: OrderCreate) -> str:
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


Row = dict[str, Any]


def _money(row: Row, column: str) -> Money:
    return Money(amount=row[column], currency=row["currency"])


def _line_payloads(row: Row) -> list[ev.OrderLinePayload]:
    return [
        ev.OrderLinePayload(
            product_id=line["product_id"], name=line["name"], sku=line["sku"],
            quantity=line["quantity"], unit_price=Money(**line["unit_price"]),
        )
        for line in row["lines"]
    ]  # fmt: skip


def _quote_request(method_id: str, address: Address, lines: list[OrderLine]) -> QuoteRequest:
    return QuoteRequest(
        method_id=method_id,
        address=address,
        lines=[
            QuoteLine(
                product_id=line.product_id, quantity=line.quantity,
                unit_price=line.unit_price, weight_grams=min(line.weight_grams, 1_000_000),
            )
            for line in lines
        ],
    )  # fmt: skip


def _choice(quote: Quote) -> dict[str, Any]:
    return ShippingChoice(
        method_id=quote.method_id, method_name=quote.method_name, carrier=quote.carrier,
        cost=quote.cost, estimated_days_min=quote.estimated_days_min,
        estimated_days_max=quote.estimated_days_max,
    ).model_dump(mode="json")  # fmt: skip


def _not_found(order_id: str) -> NotFound:
    return NotFound(f"You have no order '{order_id}' in this shop.")


def _order_by_id(_key: object) -> sa.Select[Any]:
    return sa.select(ORDERS).where(
        ORDERS.c.shop == sa.bindparam("shop"), ORDERS.c.id == sa.bindparam("order_id")
    )


def _history_of(_key: object) -> sa.Select[Any]:
    shop, order_id = sa.bindparam("shop"), sa.bindparam("order_id")
    where = (HISTORY.c.shop == shop, HISTORY.c.order_id == order_id)
    return sa.select(HISTORY).where(*where).order_by(HISTORY.c.id)


def _placed(rows: Sequence[Mapping[str, Any]]) -> Row | None:
    """The order of `_order_by_id`'s rows, unless it is still being placed (internal)."""
    return dict(rows[0]) if rows and rows[0]["status"] != PLACING else None


def _to_public(row: Row, history: Sequence[Mapping[str, Any]]) -> OrderPublic:
    return OrderPublic(
        id=row["id"], user_id=row["user_id"], status=row["status"],
        lines=[OrderLine.model_validate(line) for line in row["lines"]],
        subtotal=_money(row, "subtotal_amount"), shipping=_money(row, "shipping_amount"),
        total=_money(row, "total_amount"), refunded=_money(row, "refunded_amount"),
        shipping_method=ShippingChoice.model_validate(row["shipping_method"]),
        shipping_address=Address.model_validate(row["shipping_address"]),
        payment_id=row["payment_id"], cancel_reason=row["cancel_reason"],
        placed_at=row["created_at"], updated_at=row["updated_at"],
        expires_at=row["expires_at"], paid_at=row["paid_at"],
        history=[
            HistoryEntry(
                status=h["status"], previous=h["previous"], cause=h["cause"],
                actor=h["actor"], note=h["note"], at=h["at"],
            )
            for h in history
        ],
    )  # fmt: skip


class Orders:
    """Orders of every shop: the domain operations the API and the event handlers call."""

    def __init__(
        self,
        db: Database,
        upstreams: Upstreams,
        reads: FastReader,
        *,
        payment_window: timedelta,
        placing_timeout: timedelta,
        max_unpaid_orders: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.up, self.reads = db, upstreams, reads
        self.payment_window, self.placing_timeout = payment_window, placing_timeout
        self.max_unpaid_orders = max_unpaid_orders
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ------------------------------------------------------------------------- reads

    async def _load(
        self, session: AsyncSession, shop: str, order_id: str, *, lock: bool = False
    ) -> Row | None:
        query = _order_by_id(None)
        if lock:
            query = query.with_for_update()
        result = await session.execute(query, {"shop": shop, "order_id": order_id})
        return _placed(result.mappings().all())

    async def _read(self, shop: str, order_id: str) -> Row | None:
        """`_load` on the fast read path (no session, no lock)."""
        values = {"shop": shop, "order_id": order_id}
        return _placed(await self.reads.rows("order", _order_by_id, values))

    @staticmethod
    def _visible(row: Row | None, principal: Principal, order_id: str) -> Row:
        if row is None or not (principal.is_admin or row["user_id"] == principal.user_id):
            raise _not_found(order_id)
        return row

    async def _history(self, session: AsyncSession, shop: str, order_id: str) -> list[Row]:
        result = await session.execute(_history_of(None), {"shop": shop, "order_id": order_id})
        return [dict(r) for r in result.mappings()]

    async def public(self, session: AsyncSession, row: Row) -> OrderPublic:
        return _to_public(row, await self._history(session, row["shop"], row["id"]))

    async def get(self, shop: str, principal: Principal, order_id: str) -> OrderPublic:
        # The read a shop's page polls while payment settles: on the fast read path. The
        # order first, then its history: a transition writes both in one transaction, so
        # the history read after it always holds the status it shows.
        row = self._visible(await self._read(shop, order_id), principal, order_id)
        values = {"shop": shop, "order_id": order_id}
        return _to_public(row, await self.reads.rows("history", _history_of, values))

    async def summary(self, shop: str, order_id: str) -> OrderSummary:
        row = await self._read(shop, order_id)
        if row is None:
            raise NotFound(f"No order '{order_id}' in shop '{shop}'.")
        return OrderSummary(
            order_id=row["id"], user_id=row["user_id"], status=row["status"],
            total=_money(row, "total_amount"), placed_at=row["created_at"],
            expires_at=row["expires_at"] if row["status"] == "pending_payment" else None,
        )  # fmt: skip

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
        c = ORDERS.c
        if not principal.is_admin:
            if user is not None and user != principal.user_id:
                raise Problem(403, "Only a shop Admin may list other users' orders.")
            user = principal.user_id
        query = sa.select(
            c.id, c.user_id, c.status, c.currency, c.total_amount, c.lines, c.created_at,
            c.updated_at,
        ).where(c.shop == shop, c.status != PLACING)  # fmt: skip
        if user is not None:
            query = query.where(c.user_id == user)
        if status is not None:
            query = query.where(c.status == status)
        if cursor is not None:
            try:
                at_text, last_id = unpack_cursor(cursor)
                at = datetime.fromisoformat(at_text)
                if at.tzinfo is None or not re.fullmatch(ORDER_ID_PATTERN, str(last_id)):
                    raise ValueError("bad cursor")
            except (ValueError, TypeError):
                raise field_problem(
                    422, "cursor", "not a cursor from this list; start again without it"
                ) from None
            query = query.where(
                sa.or_(c.created_at < at, sa.and_(c.created_at == at, c.id < last_id))
            )
        query = query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
        async with self.db.reader() as session:
            rows = (await session.execute(query)).all()
        items = [
            OrderListItem(
                id=r.id, user_id=r.user_id, status=r.status,
                total=Money(amount=r.total_amount, currency=r.currency),
                item_count=sum(line["quantity"] for line in r.lines),
                placed_at=r.created_at, updated_at=r.updated_at,
            )
            for r in rows[:limit]
        ]  # fmt: skip
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = pack_cursor([last.placed_at.isoformat(), last.id])
        return OrdersPage(items=items, next_cursor=next_cursor)

    # ------------------------------------------------------------------------- writes

    async def _record(
        self,
        session: AsyncSession,
        row: Row,
        *,
        status: str,
        previous: str | None,
        cause: str,
        actor: str,
        note: str | None = None,
    ) -> None:
        values = dict(
            shop=row["shop"], order_id=row["id"], status=status, previous=previous,
            cause=cause, actor=actor, note=note[:500] if note else None, at=self.now(),
        )  # fmt: skip
        await session.execute(sa.insert(HISTORY).values(values))

    async def _transition(
        self,
        session: AsyncSession,
        row: Row,
        target: str,
        *,
        cause: str,
        actor: str,
        note: str | None = None,
        **values: Any,
    ) -> Row:
        """Move `row` to `target` if the table allows it and nobody moved it meanwhile;
        writes the history row and `order.status_changed`. Returns the row as it is now."""
        current = row["status"]
        if not may_transition(current, target):
            raise Conflict(f"An order that is {current} cannot become {target}.")
        now = self.now()
        changes = {"status": target, "version": row["version"] + 1, "updated_at": now, **values}
        result = await session.execute(
            sa.update(ORDERS)
            .where(
                ORDERS.c.shop == row["shop"], ORDERS.c.id == row["id"],
                ORDERS.c.status == current, ORDERS.c.version == row["version"],
            )
            .values(changes)
        )  # fmt: skip
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                "The order changed while we worked on it; reload it and try again.",
                slug="order-changed",
            )
        row = row | changes
        previous = None if current == PLACING else current
        await self._record(
            session, row, status=target, previous=previous, cause=cause, actor=actor, note=note
        )
        change = ev.OrderStatusChanged(
            order_id=row["id"], user_id=row["user_id"], status=target,  # type: ignore[arg-type]
            previous=previous,  # type: ignore[arg-type]
            cause=cause, total=_money(row, "total_amount"), changed_at=now,
        )  # fmt: skip
        await Outbox.add(session, ev.ORDER_STATUS_CHANGED, change, shop=row["shop"])
        return row

    async def _end(
        self,
        session: AsyncSession,
        row: Row,
        *,
        status: str,
        cause: str,
        actor: str,
        reason: str,
    ) -> Row:
        """Cancel (or fail) the order: stock to be released, `order.cancelled` emitted."""
        was_paid = row["status"] in PAID_STATUSES
        note = reason
        if row["status"] in SHIPPED_STATUSES:
            note += " (the goods had shipped: restock a return by hand)"
        row = await self._transition(
            session, row, status, cause=cause, actor=actor, note=note,
            stock=stock_after_end(row["status"], row["stock"]), cancel_reason=reason,
            cancel_cause=cause, expires_at=None,
        )  # fmt: skip
        await self._emit_cancelled(session, row, was_paid=was_paid)
        return row

    async def _emit_cancelled(self, session: AsyncSession, row: Row, *, was_paid: bool) -> None:
        status = "payment_failed" if row["status"] == "payment_failed" else "cancelled"
        cancelled = ev.OrderCancelled(
            order_id=row["id"], user_id=row["user_id"], status=status,
            cause=row["cancel_cause"] or "admin", reason=row["cancel_reason"] or "",
            was_paid=was_paid, lines=_line_payloads(row), total=_money(row, "total_amount"),
            cancelled_at=self.now(),
        )  # fmt: skip
        await Outbox.add(session, ev.ORDER_CANCELLED, cancelled, shop=row["shop"])

    # ------------------------------------------------------------------------- placing

    async def place(
        self, shop: str, principal: Principal, body: OrderCreate, key: str | None
    ) -> tuple[OrderPublic, bool]:
        """Place an order from the shopper's cart; (order, created). With an idempotency
        key, the same key by the same shopper answers the order it placed (created=False)."""
        user_id = principal.user_id
        digest = request_hash(body) if key else None
        for _ in range(3):  # a lost race on the key, whose winner then gave up: try again
            if key is not None:
                done = await self._replay(shop, user_id, key, digest)
                if done is not None:
                    return done, False
            gathered = await self._gather(shop, user_id, body)
            order_id = await self._insert_placing(shop, user_id, key, digest, *gathered)
            if order_id is None:
                continue  # someone placed with this key (or cart) at the same time
            return await self._reserve_and_open(shop, order_id, gathered[0]), True
        raise Problem(
            409,
            "An order with this Idempotency-Key is being placed; retry in a few seconds.",
            slug="order-in-progress",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    async def _gather(
        self, shop: str, user_id: str, body: OrderCreate
    ) -> tuple[pricing.Priced, Address, Quote, str | None]:
        """Read-only calls: cart lines (and the cart's version), catalog prices, the
        address, a shipping quote."""
        cart = await self.up.cart_lines(shop, user_id)
        quantities = pricing.merge(cart.lines)
        pricing.check_cart(quantities)
        snapshots = await self.up.products(shop, list(quantities))
        priced = pricing.price(quantities, snapshots)
        address = body.shipping_address
        if address is None:
            assert body.shipping_address_id is not None
            address = await self.up.address(shop, user_id, body.shipping_address_id)
        quote = await self.up.quote(
            shop, _quote_request(body.shipping_method, address, priced.lines)
        )
        return priced, address, quote, limits.cart_version(cart)

    async def _insert_placing(
        self,
        shop: str,
        user_id: str,
        key: str | None,
        digest: str | None,
        priced: pricing.Priced,
        address: Address,
        quote: Quote,
        cart_version: str | None,
    ) -> str | None:
        """The order row in status `placing`, before any stock is reserved: if we crash
        after reserving, the sweeper finds it and releases. None: the key is taken.

        Refused (409) when this version of the cart is ordered already, or the shopper has
        as many open orders as allowed: decided under the shopper's lock (limits.py)."""
        total = pricing.total(priced.subtotal, quote.cost)
        now = self.now()
        values = dict(
            shop=shop, user_id=user_id, status=PLACING, stock="none", currency=priced.currency,
            subtotal_amount=priced.subtotal.amount, shipping_amount=quote.cost.amount,
            total_amount=total.amount, refunded_amount=0,
            lines=[line.model_dump(mode="json") for line in priced.lines],
            shipping_method_id=quote.method_id, shipping_method=_choice(quote),
            shipping_address=address.model_dump(mode="json"), idempotency_key=key,
            request_hash=digest, cart_version=cart_version, version=1, created_at=now,
            updated_at=now,
        )  # fmt: skip
        values["id"] = new_id()
        try:
            async with self.db.session() as session, session.begin():
                await limits.lock_shopper(session, shop, user_id)
                open_now = await limits.open_orders(session, shop, user_id)
                if key is not None and any(row.idempotency_key == key for row in open_now):
                    return None  # placed with this key meanwhile: answer that order
                limits.check_open(open_now, cart_version, self.max_unpaid_orders)
                await session.execute(sa.insert(ORDERS).values(values))
        except IntegrityError:
            return None  # the key, or this cart's version, was taken meanwhile: look again
        return values["id"]

    async def _reserve_and_open(
        self, shop: str, order_id: str, priced: pricing.Priced
    ) -> OrderPublic:
        request = ReserveRequest(
            lines=[
                ReservationLine(product_id=line.product_id, quantity=line.quantity)
                for line in priced.lines
            ]
        )
        try:
            result = await self.up.reserve(shop, order_id, request)
        except BaseException:
            await self._abandon(shop, order_id)  # it may have been reserved all the same
            raise
        if result.status != "reserved":
            await self._abandon(shop, order_id)
            if result.status != "rejected":
                raise Unavailable("catalog", "stock be reserved")
            names = {line.product_id: line.name for line in priced.lines}
            short = [s.model_dump() | {"name": names.get(s.product_id)} for s in result.shortages]
            listed = "; ".join(
                f"{s['name']}: {s['requested']} wanted, {s['available']} available" for s in short
            )
            raise Conflict(
                f"Not enough stock for: {listed}. Lower these quantities in your cart and "
                "place the order again.",
                slug="out-of-stock",
                shortages=short,
            )
        try:
            return await self._open(shop, order_id)
        except BaseException:
            await self._abandon(shop, order_id)
            raise

    async def _open(self, shop: str, order_id: str) -> OrderPublic:
        """Stock is reserved: the order becomes `pending_payment` with its events."""
        async with self.db.session() as session, session.begin():
            query = sa.select(ORDERS).where(ORDERS.c.shop == shop, ORDERS.c.id == order_id)
            found = (await session.execute(query.with_for_update())).mappings().first()
            if found is None or found["status"] != PLACING:  # the sweeper gave up on it
                raise Unavailable("orders", "the order be placed")
            now = self.now()
            row = await self._transition(
                session, dict(found), "pending_payment", cause="placed", actor=found["user_id"],
                stock="reserved", expires_at=now + self.payment_window,
            )  # fmt: skip
            placed = ev.OrderPlaced(
                order_id=order_id, user_id=row["user_id"], lines=_line_payloads(row),
                subtotal=_money(row, "subtotal_amount"), shipping=_money(row, "shipping_amount"),
                total=_money(row, "total_amount"), shipping_method_id=row["shipping_method_id"],
                placed_at=row["created_at"],
            )  # fmt: skip
            await Outbox.add(session, ev.ORDER_PLACED, placed, shop=shop)
            return await self.public(session, row)

    async def _abandon(self, shop: str, order_id: str) -> None:
        """Undo a placing that failed: release whatever was reserved, forget the row. If
        catalog cannot be told now, the row stays for the sweeper (which retries)."""
        try:
            await self.up.release(shop, order_id)
        except Unavailable:
            log.warning("release after a failed placing deferred", order_id=order_id)
            return
        async with self.db.session() as session, session.begin():
            await session.execute(
                sa.delete(ORDERS).where(
                    ORDERS.c.shop == shop, ORDERS.c.id == order_id, ORDERS.c.status == PLACING
                )
            )

    async def _replay(
        self, shop: str, user_id: str, key: str, digest: str | None
    ) -> OrderPublic | None:
        """The order this key placed (waiting while it is being placed); None if none."""
        deadline = time.monotonic() + self.up.timeout_s * 3
        while True:
            async with self.db.reader() as session:
                query = sa.select(ORDERS).where(
                    ORDERS.c.shop == shop, ORDERS.c.user_id == user_id,
                    ORDERS.c.idempotency_key == key,
                )  # fmt: skip
                found = (await session.execute(query)).mappings().first()
                if found is None:
                    return None
                if found["request_hash"] != digest:
                    raise field_problem(
                        422, "Idempotency-Key",
                        "this key was used for another request; use a new key for a new order",
                        slug="idempotency-key-reused",
                    )  # fmt: skip
                if found["status"] != PLACING:
                    return await self.public(session, dict(found))
            if time.monotonic() > deadline:
                raise Problem(
                    409,
                    "The order with this Idempotency-Key is still being placed; retry shortly.",
                    slug="order-in-progress",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------------- update

    async def update(
        self, shop: str, principal: Principal, order_id: str, body: OrderUpdate
    ) -> OrderPublic:
        """Change the address and/or method of an unpaid order; it is re-quoted.

        A PaymentIntent created before this change charges the old total: payments reads
        the order's summary when it creates (or re-creates) an intent.
        """
        async with self.db.reader() as session:
            row = self._visible(await self._load(session, shop, order_id), principal, order_id)
        self._check_unpaid(row)
        method = body.shipping_method or row["shipping_method_id"]
        if body.shipping_address is not None:
            address = body.shipping_address
        elif body.shipping_address_id is not None:
            address = await self.up.address(shop, row["user_id"], body.shipping_address_id)
        else:
            address = Address.model_validate(row["shipping_address"])
        lines = [OrderLine.model_validate(line) for line in row["lines"]]
        quote = await self.up.quote(shop, _quote_request(method, address, lines))
        total = pricing.total(_money(row, "subtotal_amount"), quote.cost)
        async with self.db.session() as session, session.begin():
            locked = self._visible(
                await self._load(session, shop, order_id, lock=True), principal, order_id
            )
            self._check_unpaid(locked)
            if locked["version"] != row["version"]:
                raise Conflict(
                    "The order changed while it was re-quoted; reload it and try again.",
                    slug="order-changed",
                )
            changes = dict(
                shipping_method_id=quote.method_id, shipping_method=_choice(quote),
                shipping_address=address.model_dump(mode="json"),
                shipping_amount=quote.cost.amount, total_amount=total.amount,
                version=row["version"] + 1, updated_at=self.now(),
            )  # fmt: skip
            await session.execute(
                sa.update(ORDERS)
                .where(ORDERS.c.id == order_id, ORDERS.c.version == row["version"])
                .values(changes)
            )
            updated = locked | changes
            old_total = _money(row, "total_amount")
            note = f"shipping changed to {quote.method_name}; total {old_total} -> {total}"
            await self._record(
                session, updated, status=row["status"], previous=row["status"],
                cause="updated", actor=principal.user_id, note=note,
            )  # fmt: skip
            return await self.public(session, updated)

    @staticmethod
    def _check_unpaid(row: Row) -> None:
        if row["status"] != "pending_payment":
            raise Conflict(
                f"The order is {row['status']}; its address and shipping method can only "
                "change while it awaits payment.",
                slug="order-not-editable",
            )

    # ------------------------------------------------------------------------- cancel

    async def cancel(
        self, shop: str, principal: Principal, order_id: str, reason: str | None
    ) -> OrderPublic:
        async with self.db.session() as session, session.begin():
            row = self._visible(
                await self._load(session, shop, order_id, lock=True), principal, order_id
            )
            status = row["status"]
            if status in ENDED_STATUSES:
                raise Conflict(
                    f"The order is already {status.replace('_', ' ')}.", slug="order-ended"
                )
            if not may_cancel(status, admin=principal.is_admin):
                raise Conflict(
                    f"The order is {status}; once shipped only the shop can cancel it. "
                    "Contact the shop for a return.",
                    slug="order-not-cancellable",
                )
            by_shop = principal.is_admin and row["user_id"] != principal.user_id
            cause = "admin" if by_shop else "user"
            default = "cancelled by the shop" if cause == "admin" else "cancelled by the shopper"
            row = await self._end(
                session, row, status="cancelled", cause=cause, actor=principal.user_id,
                reason=reason or default,
            )  # fmt: skip
        await self.settle_stock(shop, order_id)
        return await self.get(shop, principal, order_id)

    # ------------------------------------------------------------------------- stock

    async def settle_stock(self, shop: str, order_id: str) -> None:
        """Tell catalog what the order's `stock` says is pending; never raises (the
        sweeper retries what could not be done now)."""
        try:
            await self._settle_stock(shop, order_id)
        except Exception:
            log.warning("stock settlement deferred", order_id=order_id, exc_info=True)

    async def _settle_stock(self, shop: str, order_id: str) -> None:
        async with self.db.reader() as session:
            query = sa.select(ORDERS.c.stock).where(ORDERS.c.shop == shop, ORDERS.c.id == order_id)
            stock = await session.scalar(query)
        if stock == "release_pending":
            outcome: str = await self.up.release(shop, order_id)
        elif stock == "commit_pending":
            outcome = await self.up.commit(shop, order_id)
            if outcome == "not_reserved":
                log.error("a paid order's reservation was gone at commit", order_id=order_id)
                outcome = "released"
        else:
            return
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                sa.update(ORDERS)
                .where(ORDERS.c.shop == shop, ORDERS.c.id == order_id, ORDERS.c.stock == stock)
                .values(stock=outcome)
            )
            if outcome == "kept" and result.rowcount == 1:  # type: ignore[attr-defined]
                row = await self._load(session, shop, order_id)
                if row is not None:
                    await self._record(
                        session, row, status=row["status"], previous=row["status"],
                        cause="stock.kept", actor=SYSTEM,
                        note="the units had left the stock when the order was paid; catalog "
                        "keeps them out (restock by hand if they come back)",
                    )  # fmt: skip

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
        ids: list[tuple[str, str]] = []
        async with self.db.session() as session, session.begin():
            query = (
                sa.select(ORDERS)
                .where(ORDERS.c.status == "pending_payment", ORDERS.c.expires_at <= now)
                .order_by(ORDERS.c.expires_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            for found in (await session.execute(query)).mappings().all():
                minutes = max(1, int(self.payment_window.total_seconds() // 60))
                await self._end(
                    session, dict(found), status="cancelled", cause="expired", actor=SYSTEM,
                    reason=f"not paid within {minutes} minutes",
                )  # fmt: skip
                ids.append((found["shop"], found["id"]))
        for shop, order_id in ids:
            await self.settle_stock(shop, order_id)
        return len(ids)

    async def retry_stock(self, batch: int = 100) -> int:
        async with self.db.reader() as session:
            query = (
                sa.select(ORDERS.c.shop, ORDERS.c.id)
                .where(ORDERS.c.stock.in_(["release_pending", "commit_pending"]))
                .order_by(ORDERS.c.updated_at)
                .limit(batch)
            )
            pending = (await session.execute(query)).all()
        for shop, order_id in pending:
            await self.settle_stock(shop, order_id)
        return len(pending)

    async def abandon_stale(self, batch: int = 100) -> int:
        cutoff = self.now() - self.placing_timeout
        async with self.db.reader() as session:
            query = (
                sa.select(ORDERS.c.shop, ORDERS.c.id)
                .where(ORDERS.c.status == PLACING, ORDERS.c.created_at < cutoff)
                .limit(batch)
            )
            stale = (await session.execute(query)).all()
        for shop, order_id in stale:
            await self._abandon(shop, order_id)
        return len(stale)

    # ------------------------------------------------------------------------- events

    async def _event_order(self, session: AsyncSession, shop: str, order_id: str) -> Row:
        row = await self._load(session, shop, order_id, lock=True)
        if row is None:
            raise PermanentEventError(f"no order '{order_id}' in shop '{shop}'")
        return row

    async def on_payment_succeeded(
        self, session: AsyncSession, shop: str, p: ev.PaymentSucceeded
    ) -> None:
        row = await self._event_order(session, shop, p.order_id)
        status = row["status"]
        if status == "pending_payment":
            note = None
            if p.amount != _money(row, "total_amount"):
                note = f"charged {p.amount}, the order's total is {_money(row, 'total_amount')}"
            stock = "commit_pending" if row["stock"] == "reserved" else row["stock"]
            row = await self._transition(
                session, row, "paid", cause="payment.succeeded", actor=SYSTEM, note=note,
                stock=stock, payment_id=p.payment_id, paid_at=p.succeeded_at, expires_at=None,
            )  # fmt: skip
            paid = ev.OrderPaid(
                order_id=row["id"], user_id=row["user_id"], payment_id=p.payment_id,
                total=_money(row, "total_amount"), shipping_method_id=row["shipping_method_id"],
                shipping_address=Address.model_validate(row["shipping_address"]),
                lines=_line_payloads(row), paid_at=p.succeeded_at,
            )  # fmt: skip
            await Outbox.add(session, ev.ORDER_PAID, paid, shop=shop)
            return
        if row["payment_id"] == p.payment_id:
            return  # this payment is already recorded
        if status in ENDED_STATUSES:
            # Paid after the order ended (expired, cancelled, failed): keep the money's trace
            # and ask payments again to refund it in full.
            await session.execute(
                sa.update(ORDERS)
                .where(ORDERS.c.id == row["id"], ORDERS.c.version == row["version"])
                .values(payment_id=p.payment_id, version=row["version"] + 1,
                        updated_at=self.now())
            )  # fmt: skip
            await self._record(
                session, row, status=status, previous=status, cause="payment.late",
                actor=SYSTEM,
                note=f"payment {p.payment_id} of {p.amount} succeeded after the order was "
                f"{status}; it is refunded in full",
            )  # fmt: skip
            await self._emit_cancelled(session, row, was_paid=True)
            return
        # Already paid by another payment: a double charge the shop must refund.
        await self._record(
            session, row, status=status, previous=status, cause="payment.duplicate",
            actor=SYSTEM,
            note=f"a second payment {p.payment_id} of {p.amount} succeeded; refund it",
        )  # fmt: skip
        log.warning("second payment for a paid order", order_id=row["id"], payment=p.payment_id)

    async def on_payment_failed(
        self, session: AsyncSession, shop: str, p: ev.PaymentFailed
    ) -> None:
        row = await self._event_order(session, shop, p.order_id)
        if row["status"] != "pending_payment":
            return  # a failed attempt after the order was paid or ended changes nothing
        await self._end(
            session, row, status="payment_failed", cause="payment_failed", actor=SYSTEM,
            reason=f"{p.code}: {p.message}"[:500],
        )  # fmt: skip

    async def on_payment_refunded(
        self, session: AsyncSession, shop: str, p: ev.PaymentRefunded
    ) -> None:
        row = await self._event_order(session, shop, p.order_id)
        refunded = max(row["refunded_amount"], p.refunded_total.amount)
        note = f"refund {p.refund_id}: {p.amount} (refunded so far: {p.refunded_total})"
        if p.full and may_transition(row["status"], "refunded"):
            await self._transition(
                session, row, "refunded", cause="payment.refunded", actor=SYSTEM, note=note,
                stock=stock_after_end(row["status"], row["stock"]), refunded_amount=refunded,
            )  # fmt: skip
            return
        await session.execute(
            sa.update(ORDERS)
            .where(ORDERS.c.id == row["id"], ORDERS.c.version == row["version"])
            .values(refunded_amount=refunded, version=row["version"] + 1, updated_at=self.now())
        )
        await self._record(
            session, row, status=row["status"], previous=row["status"],
            cause="payment.refunded", actor=SYSTEM, note=note,
        )  # fmt: skip

    async def on_shipment_created(
        self, session: AsyncSession, shop: str, p: ev.ShipmentCreated
    ) -> None:
        row = await self._event_order(session, shop, p.order_id)
        if row["status"] == "paid":
            await self._transition(
                session, row, "fulfilling", cause="shipment.created", actor=SYSTEM,
                note=f"shipment {p.shipment_id}",
            )  # fmt: skip

    async def on_shipment_status_changed(
        self, session: AsyncSession, shop: str, p: ev.ShipmentStatusChanged
    ) -> None:
        target = SHIPMENT_STATUS_TO_ORDER.get(p.status)
        if target is None:
            return
        row = await self._event_order(session, shop, p.order_id)
        # Forward only, and never out of an ended order: a late "shipped" after
        # "delivered" (or after a cancel) changes nothing.
        if row["status"] in ENDED_STATUSES or not may_transition(row["status"], target):
            return
        tracking = " ".join(x for x in (p.carrier, p.tracking_number) if x)
        await self._transition(
            session, row, target, cause=f"shipment.{p.status}", actor=SYSTEM,
            note=f"shipment {p.shipment_id}" + (f" ({tracking})" if tracking else ""),
        )  # fmt: skip
