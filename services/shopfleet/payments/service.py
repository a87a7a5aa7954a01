"""Payments' domain: intents, confirmation, refunds, and settling what Stripe tells us.

Every outcome goes through one of two functions, whichever source told us (the confirm
call's answer, a webhook, the reconciler, order.cancelled): `settle_intent` and
`settle_refund`. Each moves a row only from an unsettled state (a conditional UPDATE), and
adds the event to the outbox only when its UPDATE moved the row, so a second source
telling the same thing changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.events import (
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_SUCCEEDED,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
)
from shopfleet.kit.contracts.orders import ORDER_SUMMARY_PATH, PAYABLE_STATUSES, OrderSummary
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import Database, dialect_insert, utcnow
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.kit.money import Money, max_charge
from shopfleet.kit.outbox import Outbox
from shopfleet.payments.models import (
    CAPTURED,
    OPEN,
    Payment,
    PaymentDetail,
    PaymentsPage,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    StripeEvent,
    payment_public,
    refund_public,
)
from shopfleet.payments.provider import (
    Declined,
    Rejected,
    StripeAccounts,
    Unavailable,
    call,
    plain,
)
from shopfleet.payments.settings import PaymentsSettings

log = structlog.get_logger("shopfleet.payments")

P = Payment.__table__  # type: ignore[attr-defined]
R = Refund.__table__  # type: ignore[attr-defined]
E = StripeEvent.__table__  # type: ignore[attr-defined]
_OPEN = [s.value for s in OPEN]
_CAPTURED = [s.value for s in CAPTURED]
MAX_BACKOFF_S = 3600.0


def after_commit(session: AsyncSession, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction commits (not if it rolls back)."""
    sa.event.listen(session.sync_session, "after_commit", lambda _s: fn(), once=True)


class PaymentsService:
    def __init__(
        self, db: Database, accounts: StripeAccounts, invoker: Invoker, settings: PaymentsSettings
    ) -> None:
        self.db, self.accounts, self.invoker, self.settings = db, accounts, invoker, settings
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------- helpers

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, Problem | Unavailable):
                log.error("payments background task failed", error=repr(exc))

    async def drain(self) -> None:
        """Wait for background work (refunds, cancellations) started by this process."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _later(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.reconcile_after_s)

    async def _payment(
        self, session: AsyncSession, shop: str, payment_id: str, who: Principal | None = None
    ) -> Any:
        query = sa.select(P).where(P.c.shop == shop, P.c.id == payment_id)
        if who is not None and not who.is_admin:
            query = query.where(P.c.user_id == who.user_id)
        row = (await session.execute(query)).first()
        if row is None:
            raise NotFound(f"There is no payment '{payment_id}'.")
        return row

    async def detail(
        self, shop: str, payment_id: str, who: Principal | None = None
    ) -> PaymentDetail:
        async with self.db.reader() as session:
            row = await self._payment(session, shop, payment_id, who)
            refunds = (
                await session.execute(
                    sa.select(R)
                    .where(R.c.shop == shop, R.c.payment_id == payment_id)
                    .order_by(R.c.created_at, R.c.id)
                )
            ).all()
        return PaymentDetail(
            **payment_public(row).model_dump(), refunds=[refund_public(r) for r in refunds]
        )

    async def list(
        self,
        shop: str,
        who: Principal,
        *,
        order_id: str | None,
        status: PaymentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> PaymentsPage:
        query = sa.select(P).where(P.c.shop == shop)
        if not who.is_admin:
            query = query.where(P.c.user_id == who.user_id)
        if order_id is not None:
            query = query.where(P.c.order_id == order_id)
        if status is not None:
            query = query.where(P.c.status == status.value)
        if cursor:
            try:
                created, last_id = unpack_cursor(cursor)
                after = datetime.fromisoformat(created)
                if not isinstance(last_id, str) or after.tzinfo is None:
                    raise ValueError(cursor)
            except (ValueError, TypeError):
                raise field_problem(400, "query.cursor", "not a cursor from this API") from None
            query = query.where(
                sa.or_(P.c.created_at < after, sa.and_(P.c.created_at == after, P.c.id < last_id))
            )
        query = query.order_by(P.c.created_at.desc(), P.c.id.desc()).limit(limit + 1)
        async with self.db.reader() as session:
            rows = (await session.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            pack_cursor([rows[-1].created_at.isoformat(), rows[-1].id]) if more and rows else None
        )
        return PaymentsPage(items=[payment_public(r) for r in rows], next_cursor=next_cursor)

    # ------------------------------------------------------------------------- intents

    async def _order(self, shop: str, order_id: str) -> OrderSummary | None:
        path = ORDER_SUMMARY_PATH.format(shop=shop, order_id=order_id)
        try:
            answer = await self.invoker.invoke(
                "orders", "GET", path, timeout_s=self.settings.platform.call_timeout_s
            )
        except ServiceUnavailable:
            raise Problem(
                503, "The orders service is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            ) from None  # fmt: skip
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise Problem(502, f"The orders service answered {answer.status}; retry shortly.")
        try:
            return OrderSummary.model_validate(answer.json())
        except (ValidationError, ValueError):
            raise Problem(502, "The orders service answered something unexpected.") from None

    async def create_intent(
        self, shop: str, who: Principal, order_id: str, payment_method: str | None
    ) -> tuple[PaymentDetail, bool]:
        """The order's open payment (False) or a new one with its intent at Stripe (True)."""
        order = await self._order(shop, order_id)
        if order is None or (order.user_id != who.user_id and not who.is_admin):
            raise NotFound(f"There is no order '{order_id}'.")
        amount, currency = order.total.amount, order.total.currency
        async with self.db.reader() as session:
            existing = (
                await session.execute(
                    sa.select(P).where(P.c.shop == shop, P.c.open_order_id == order_id)
                )
            ).first()
        if existing is not None and existing.status != PaymentStatus.CREATING:
            if (existing.amount, existing.currency) != (amount, currency):
                await self._follow_order_total(existing, amount, currency)
            return await self.detail(shop, existing.id), False
        if order.status not in PAYABLE_STATUSES:
            raise Conflict(
                f"Order '{order_id}' is {order.status}: only an order waiting for payment can be "
                "paid.", slug="order-not-payable",
            )  # fmt: skip
        if amount <= 0:
            raise Conflict(f"Order '{order_id}' has nothing to pay.", slug="order-not-payable")
        limit = max_charge(currency)
        if amount > limit.amount:  # an order placed before orders checked it: Stripe refuses
            raise Conflict(
                f"Order '{order_id}' totals {order.total}, more than one card payment can charge "
                f"({limit}); cancel it and order fewer units.",
                slug="order-too-large", limit=limit.model_dump(mode="json"),
            )  # fmt: skip
        payment_id = existing.id if existing is not None else await self._new_row(
            shop, order, payment_method
        )  # fmt: skip
        account = await self.accounts.account(shop)
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "metadata": {"shop": shop, "order_id": order_id, "payment_id": payment_id,
                         "user_id": order.user_id},
        }  # fmt: skip
        if payment_method:
            params["payment_method"] = payment_method
        try:
            intent = plain(
                await call(
                    account.client.v1.payment_intents.create_async(
                        params, {"idempotency_key": f"{shop}:{order_id}:{amount}{currency}"}
                    )
                )
            )
        except Unavailable as exc:
            raise exc.problem("create the payment") from None
        except Rejected as exc:
            await self._give_up(payment_id, exc)
            raise _rejected(exc) from None
        async with self.db.session() as session, session.begin():
            moved = await session.execute(
                sa.update(P)
                .where(P.c.id == payment_id, P.c.provider_intent_id.is_(None),
                       P.c.status == PaymentStatus.CREATING.value)
                .values(provider_intent_id=intent["id"], client_secret=intent.get("client_secret"),
                        status=PaymentStatus.PENDING.value, updated_at=utcnow(),
                        payment_method=intent.get("payment_method") or None)
            )  # fmt: skip
        made = bool(moved.rowcount)  # type: ignore[attr-defined]
        if not made:  # a concurrent call made its intent first, or the order was cancelled
            self.spawn(self._cancel_at_stripe(shop, intent["id"]))
        return await self.detail(shop, payment_id), made

    async def _new_row(self, shop: str, order: OrderSummary, payment_method: str | None) -> str:
        row = Payment(
            shop=shop, order_id=order.order_id, open_order_id=order.order_id,
            user_id=order.user_id, amount=order.total.amount, currency=order.total.currency,
            status=PaymentStatus.CREATING.value, payment_method=payment_method,
            check_after=self._later(),
        )  # fmt: skip
        try:
            async with self.db.session() as session, session.begin():
                await session.execute(sa.insert(P).values(row.model_dump()))
        except IntegrityError:  # a concurrent call inserted the order's payment first
            async with self.db.reader() as session:
                found = (
                    await session.execute(
                        sa.select(P.c.id).where(
                            P.c.shop == shop, P.c.open_order_id == order.order_id
                        )
                    )
                ).scalar()
            if found is None:
                raise
            return str(found)
        return row.id

    async def _follow_order_total(self, row: Any, amount: int, currency: str) -> None:
        """The order's total changed while unpaid: the pending intent follows it."""
        if row.status != PaymentStatus.PENDING or currency != row.currency:
            raise Conflict(
                f"The order's total changed to {Money(amount=amount, currency=currency)} after "
                f"its payment became {row.status}.", slug="order-total-changed",
            )  # fmt: skip
        account = await self.accounts.account(row.shop)
        try:
            await call(
                account.client.v1.payment_intents.update_async(
                    row.provider_intent_id, {"amount": amount}
                )
            )
        except Unavailable as exc:
            raise exc.problem("update the payment") from None
        except Rejected as exc:
            raise _rejected(exc) from None
        async with self.db.session() as session, session.begin():
            await session.execute(
                sa.update(P)
                .where(P.c.id == row.id, P.c.status == PaymentStatus.PENDING.value)
                .values(amount=amount, updated_at=utcnow())
            )

    async def _give_up(self, payment_id: str, exc: Rejected) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                sa.update(P)
                .where(P.c.id == payment_id, P.c.status == PaymentStatus.CREATING.value)
                .values(status=PaymentStatus.FAILED.value, open_order_id=None,
                        failure_code=(exc.code or "invalid_request")[:64],
                        failure_message=exc.message[:500], settled_at=utcnow(),
                        updated_at=utcnow(), check_after=None)
            )  # fmt: skip

    async def confirm(
        self, shop: str, who: Principal, payment_id: str, payment_method: str | None
    ) -> PaymentDetail:
        async with self.db.reader() as session:
            row = await self._payment(session, shop, payment_id, who)
        if row.status in _CAPTURED and payment_method in (None, row.payment_method):
            return await self.detail(shop, payment_id)  # confirmed already: same answer again
        if row.status not in _OPEN:
            raise Conflict(f"The payment is {row.status}; it cannot be confirmed.",
                           slug="payment-not-confirmable")  # fmt: skip
        if row.provider_intent_id is None:
            raise Conflict("The payment's intent is not made yet: POST /payments/intents again.",
                           slug="payment-not-confirmable")  # fmt: skip
        if payment_method is None and row.payment_method is None:
            raise field_problem(422, "body.payment_method",
                                "required: the payment has no payment method yet")  # fmt: skip
        account = await self.accounts.account(shop)
        intents = account.client.v1.payment_intents
        async with self.db.session() as session, session.begin():
            await session.execute(
                sa.update(P)
                .where(P.c.id == payment_id, P.c.status.in_(_OPEN))
                .values(status=PaymentStatus.PROCESSING.value, check_after=self._later(),
                        payment_method=payment_method or row.payment_method, updated_at=utcnow())
            )  # fmt: skip
        try:
            if payment_method is not None and payment_method != row.payment_method:
                # Set first, then confirm: works on Stripe and on the emulator alike.
                await call(
                    intents.update_async(row.provider_intent_id, {"payment_method": payment_method})
                )
            intent = plain(await call(intents.confirm_async(row.provider_intent_id)))
        except Declined as exc:
            async with self.db.session() as session, session.begin():
                await self._fail(session, row, exc.code, exc.message)
            raise Problem(
                402, f"The card was declined ({exc.code}): {exc.message}",
                slug="card-declined", payment_id=payment_id, code=exc.code,
            ) from None  # fmt: skip
        except Rejected as exc:
            # Refused: maybe it was confirmed already (a second click). Stripe says what is.
            try:
                intent = plain(await call(intents.retrieve_async(row.provider_intent_id)))
            except (Rejected, Unavailable, Declined):
                intent = {"id": row.provider_intent_id, "status": "requires_confirmation"}
            async with self.db.session() as session, session.begin():
                await self.settle_intent(session, shop, intent)
            if intent.get("status") in ("requires_payment_method", "requires_confirmation"):
                raise _rejected(exc) from None
            return await self.detail(shop, payment_id)
        except Unavailable as exc:
            raise exc.problem("confirm the payment") from None
        async with self.db.session() as session, session.begin():
            await self.settle_intent(session, shop, intent)
        return await self.detail(shop, payment_id)

    # ------------------------------------------------------------------------- settling

    async def settle_intent(self, session: AsyncSession, shop: str, intent: dict[str, Any]) -> None:
        """Apply what Stripe says of an intent (the one path for every source)."""
        row = (
            await session.execute(
                sa.select(P).where(P.c.shop == shop, P.c.provider_intent_id == intent["id"])
            )
        ).first()
        if row is None:
            log.info("stripe intent is not this shop's", shop=shop, intent=intent["id"])
            return
        status = intent.get("status")
        if status == "succeeded":
            received = intent.get("amount_received") or intent.get("amount") or row.amount
            await self._succeed(session, row, int(received))
        elif status == "canceled":
            await self._fail(session, row, "canceled", "The payment was cancelled at Stripe.")
        elif status == "requires_payment_method" and intent.get("last_payment_error"):
            error = intent["last_payment_error"]
            await self._fail(session, row, error.get("code") or "payment_failed",
                             error.get("message") or "The payment failed.")  # fmt: skip
        elif status in ("requires_payment_method", "requires_confirmation"):
            # Never confirmed at Stripe (a confirm that did not get through): confirm again.
            await session.execute(
                sa.update(P)
                .where(P.c.id == row.id, P.c.status == PaymentStatus.PROCESSING.value)
                .values(status=PaymentStatus.PENDING.value, updated_at=utcnow())
            )
        elif status in ("processing", "requires_capture", "requires_action"):
            new = "requires_action" if status == "requires_action" else "processing"
            await session.execute(
                sa.update(P)
                .where(P.c.id == row.id, P.c.status.in_(_OPEN), P.c.status != new)
                .values(status=new, updated_at=utcnow())
            )

    async def _succeed(self, session: AsyncSession, row: Any, received: int) -> None:
        now = utcnow()
        moved = await session.execute(
            sa.update(P)
            .where(P.c.id == row.id, P.c.status.in_(_OPEN))
            .values(status=PaymentStatus.SUCCEEDED.value, captured_amount=received,
                    failure_code=None, failure_message=None, settled_at=now, updated_at=now,
                    check_after=None)
        )  # fmt: skip
        if moved.rowcount:  # type: ignore[attr-defined]
            event = PaymentSucceeded(
                payment_id=row.id, order_id=row.order_id, user_id=row.user_id,
                amount=Money(amount=received, currency=row.currency),
                provider_ref=row.provider_intent_id, succeeded_at=now,
            )  # fmt: skip
            await Outbox.add(session, PAYMENT_SUCCEEDED, event, shop=row.shop)
            return
        # Money taken for a payment we had given up (its order was cancelled meanwhile, or a
        # retry in the browser after a decline): record it and give it back.
        moved = await session.execute(
            sa.update(P)
            .where(P.c.id == row.id,
                   P.c.status.in_([PaymentStatus.CANCELED.value, PaymentStatus.FAILED.value]))
            .values(status=PaymentStatus.SUCCEEDED.value, captured_amount=received,
                    settled_at=now, updated_at=now, check_after=None)
        )  # fmt: skip
        if moved.rowcount:  # type: ignore[attr-defined]
            log.warning("captured after cancel: refunding", payment=row.id, shop=row.shop)
            await self._reserve_refund(
                session, row.shop, row.id, None, RefundReason.ORDER_CANCELLED
            )

    async def _fail(self, session: AsyncSession, row: Any, code: str, message: str) -> None:
        now = utcnow()
        moved = await session.execute(
            sa.update(P)
            .where(P.c.id == row.id, P.c.status.in_(_OPEN))
            .values(status=PaymentStatus.FAILED.value, open_order_id=None,
                    failure_code=code[:64], failure_message=message[:500], settled_at=now,
                    updated_at=now, check_after=None)
        )  # fmt: skip
        if moved.rowcount:  # type: ignore[attr-defined]
            event = PaymentFailed(
                payment_id=row.id, order_id=row.order_id, user_id=row.user_id,
                amount=Money(amount=row.amount, currency=row.currency), code=code,
                message=message, failed_at=now,
            )  # fmt: skip
            await Outbox.add(session, PAYMENT_FAILED, event, shop=row.shop)

    # ------------------------------------------------------------------------- refunds

    async def refund(
        self, shop: str, payment_id: str, amount: int | None, currency: str | None
    ) -> tuple[Any, Problem | None]:
        """An admin's refund: reserve the amount, then ask Stripe. Returns (refund, problem)."""
        async with self.db.session() as session, session.begin():
            row = await self._payment(session, shop, payment_id)
            if currency is not None and currency != row.currency:
                raise field_problem(422, "body.currency",
                                    f"must be the payment's currency, {row.currency}")  # fmt: skip
            refund_id = await self._reserve_refund(
                session, shop, payment_id, amount, RefundReason.REQUESTED
            )
        problem = await self.execute_refund(refund_id)
        async with self.db.reader() as session:
            refund = (await session.execute(sa.select(R).where(R.c.id == refund_id))).first()
        return refund_public(refund), problem

    async def _reserve_refund(
        self,
        session: AsyncSession,
        shop: str,
        payment_id: str,
        amount: int | None,
        reason: RefundReason,
    ) -> str:
        """Hold `amount` (None: all that is left) of a captured payment for a new refund.

        The conditional UPDATE is the guard: concurrent refunds never hold more than was
        captured. A refund held by order.cancelled runs once the transaction commits.
        """
        row = await self._payment(session, shop, payment_id)
        if row.status not in _CAPTURED:
            raise Conflict(f"The payment is {row.status}: only a captured payment can be refunded.",
                           slug="payment-not-refundable")  # fmt: skip
        left = row.captured_amount - row.refunded_amount - row.refund_reserved
        wanted = left if amount is None else amount
        if left <= 0:
            raise Conflict("The payment is refunded in full already (or its refunds are under "
                           "way).", slug="refund-exceeds-captured")  # fmt: skip
        if wanted > left:
            raise Conflict(
                f"At most {Money(amount=left, currency=row.currency)} can still be refunded.",
                slug="refund-exceeds-captured", refundable=left,
            )  # fmt: skip
        held = await session.execute(
            sa.update(P)
            .where(P.c.id == payment_id, P.c.status.in_(_CAPTURED),
                   P.c.captured_amount - P.c.refunded_amount - P.c.refund_reserved >= wanted)
            .values(refund_reserved=P.c.refund_reserved + wanted, updated_at=utcnow())
        )  # fmt: skip
        if not held.rowcount:  # type: ignore[attr-defined]
            raise Conflict("Another refund took what was left of the payment.",
                           slug="refund-exceeds-captured")  # fmt: skip
        refund = Refund(
            shop=shop, payment_id=payment_id, amount=wanted, currency=row.currency,
            status=RefundStatus.PENDING.value, reason=reason.value, check_after=self._later(),
        )  # fmt: skip
        await session.execute(sa.insert(R).values(refund.model_dump()))
        if reason is RefundReason.ORDER_CANCELLED:
            after_commit(session, lambda: self.spawn(self.execute_refund(refund.id)))
        return refund.id

    async def execute_refund(self, refund_id: str, *, look_first: bool = False) -> Problem | None:
        """Ask Stripe for a held refund and settle it; None when done or still under way."""
        async with self.db.reader() as session:
            refund = (await session.execute(sa.select(R).where(R.c.id == refund_id))).first()
            if refund is None or refund.status != RefundStatus.PENDING:
                return None
            payment = await self._payment(session, refund.shop, refund.payment_id)
        account = await self.accounts.account(refund.shop)
        try:
            found = None
            if look_first:  # a retry: Stripe may have made it before we heard back
                listed = await call(
                    account.client.v1.refunds.list_async(
                        {"payment_intent": payment.provider_intent_id, "limit": 100}
                    )
                )
                found = next(
                    (r for r in map(plain, listed.data)
                     if (r.get("metadata") or {}).get("refund_id") == refund_id), None,
                )  # fmt: skip
            made = found or plain(
                await call(
                    account.client.v1.refunds.create_async(
                        {"payment_intent": payment.provider_intent_id, "amount": refund.amount,
                         "metadata": {"refund_id": refund_id, "payment_id": payment.id,
                                      "shop": refund.shop}},
                        {"idempotency_key": f"refund:{refund_id}"},
                    )
                )
            )  # fmt: skip
        except Unavailable as exc:
            async with self.db.session() as session, session.begin():
                await session.execute(
                    sa.update(R).where(R.c.id == refund_id).values(check_after=self._later())
                )
            return exc.problem("refund the payment")
        except (Rejected, Declined) as exc:
            async with self.db.session() as session, session.begin():
                await self.settle_refund(session, refund_id, None, "failed", str(exc))
            return Problem(409, f"Stripe refused the refund: {exc}", slug="refund-refused")
        async with self.db.session() as session, session.begin():
            await self.settle_refund(session, refund_id, made["id"], made.get("status"), None)
        return None

    async def settle_refund(
        self,
        session: AsyncSession,
        refund_id: str,
        provider_id: str | None,
        status: str | None,
        failure: str | None,
    ) -> None:
        """Apply what Stripe says of one of our refunds (the one path for every source)."""
        refund = (await session.execute(sa.select(R).where(R.c.id == refund_id))).first()
        if refund is None:
            return
        now = utcnow()
        if status == "succeeded":
            moved = await session.execute(
                sa.update(R)
                .where(R.c.id == refund_id, R.c.status == RefundStatus.PENDING.value)
                .values(status=RefundStatus.SUCCEEDED.value, provider_refund_id=provider_id,
                        updated_at=now, check_after=None)
            )  # fmt: skip
            if not moved.rowcount:  # type: ignore[attr-defined]
                return
            total = P.c.refunded_amount + refund.amount
            await session.execute(
                sa.update(P)
                .where(P.c.id == refund.payment_id)
                .values(refunded_amount=total, refund_reserved=P.c.refund_reserved - refund.amount,
                        status=sa.case((total >= P.c.captured_amount,
                                        PaymentStatus.REFUNDED.value),
                                       else_=PaymentStatus.PARTIALLY_REFUNDED.value),
                        updated_at=now)
            )  # fmt: skip
            payment = (await session.execute(sa.select(P).where(P.c.id == refund.payment_id))).one()
            event = PaymentRefunded(
                payment_id=payment.id, order_id=payment.order_id, user_id=payment.user_id,
                refund_id=refund.id, amount=Money(amount=refund.amount, currency=refund.currency),
                refunded_total=Money(amount=payment.refunded_amount, currency=payment.currency),
                full=payment.refunded_amount >= payment.captured_amount, refunded_at=now,
            )  # fmt: skip
            await Outbox.add(session, PAYMENT_REFUNDED, event, shop=refund.shop)
        elif status in ("failed", "canceled"):
            moved = await session.execute(
                sa.update(R)
                .where(R.c.id == refund_id, R.c.status == RefundStatus.PENDING.value)
                .values(status=RefundStatus.FAILED.value, provider_refund_id=provider_id,
                        failure_message=(failure or f"Stripe: {status}")[:500], updated_at=now,
                        check_after=None)
            )  # fmt: skip
            if moved.rowcount:  # type: ignore[attr-defined]
                await session.execute(
                    sa.update(P)
                    .where(P.c.id == refund.payment_id)
                    .values(refund_reserved=P.c.refund_reserved - refund.amount, updated_at=now)
                )
        elif provider_id is not None:  # still pending at Stripe
            await session.execute(
                sa.update(R)
                .where(R.c.id == refund_id, R.c.provider_refund_id.is_(None))
                .values(provider_refund_id=provider_id, updated_at=now)
            )

    async def apply_charge_refunds(
        self, session: AsyncSession, shop: str, intent_id: str, refunds: list[dict[str, Any]]
    ) -> None:
        """`charge.refunded`: settle ours; record refunds made outside this service too."""
        payment = (
            await session.execute(
                sa.select(P).where(P.c.shop == shop, P.c.provider_intent_id == intent_id)
            )
        ).first()
        if payment is None:
            return
        for made in refunds:
            ours = (made.get("metadata") or {}).get("refund_id")
            known = (
                await session.execute(
                    sa.select(R.c.id).where(
                        R.c.payment_id == payment.id,
                        sa.or_(R.c.id == (ours or ""), R.c.provider_refund_id == made["id"]),
                    )
                )
            ).scalar()
            if known is None:  # made at Stripe directly (e.g. in its dashboard)
                if made.get("status") != "succeeded":
                    continue
                try:
                    known = await self._reserve_refund(
                        session, shop, payment.id, int(made["amount"]), RefundReason.REQUESTED
                    )
                except Problem:
                    log.warning("stripe refund beyond what we captured", refund=made["id"])
                    continue
            await self.settle_refund(session, known, made["id"], made.get("status"), None)

    # ------------------------------------------------------------------------- webhooks

    async def record_event(
        self, session: AsyncSession, shop: str, event_id: str, kind: str
    ) -> bool:
        """Remember a Stripe event id in the caller's transaction; False if seen already."""
        stmt = dialect_insert(session, E).values(
            shop=shop, event_id=event_id, type=kind[:100], received_at=utcnow()
        )
        result = await session.execute(stmt.on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------- order.cancelled

    async def order_cancelled(self, session: AsyncSession, shop: str, order_id: str) -> None:
        """Refund a captured payment in full (once); cancel an open one; else nothing."""
        rows = (
            await session.execute(sa.select(P).where(P.c.shop == shop, P.c.order_id == order_id))
        ).all()
        for row in rows:
            if row.status in _CAPTURED:
                already = (
                    await session.execute(
                        sa.select(R.c.id).where(
                            R.c.payment_id == row.id,
                            R.c.reason == RefundReason.ORDER_CANCELLED.value,
                            R.c.status != RefundStatus.FAILED.value,
                        )
                    )
                ).first()
                left = row.captured_amount - row.refunded_amount - row.refund_reserved
                if already is None and left > 0:
                    await self._reserve_refund(
                        session, shop, row.id, None, RefundReason.ORDER_CANCELLED
                    )
            elif row.status in _OPEN:
                now = utcnow()
                moved = await session.execute(
                    sa.update(P)
                    .where(P.c.id == row.id, P.c.status.in_(_OPEN))
                    .values(status=PaymentStatus.CANCELED.value, open_order_id=None,
                            settled_at=now, updated_at=now, check_after=None)
                )  # fmt: skip
                if moved.rowcount and row.provider_intent_id:  # type: ignore[attr-defined]
                    cancel = functools.partial(self._spawn_cancel, shop, row.provider_intent_id)
                    after_commit(session, cancel)

    def _spawn_cancel(self, shop: str, intent_id: str) -> None:
        self.spawn(self._cancel_at_stripe(shop, intent_id))

    async def _cancel_at_stripe(self, shop: str, intent_id: str) -> None:
        account = await self.accounts.account(shop)
        intents = account.client.v1.payment_intents
        try:
            await call(intents.cancel_async(intent_id))
            return
        except Rejected:
            pass  # not cancellable: most likely paid meanwhile; Stripe says below
        except (Unavailable, Declined) as exc:
            # The intent stays unconfirmable through us; if it is paid in the browser
            # anyway, its webhook (or the reconciler) records and refunds it.
            log.info("stripe intent not cancelled", shop=shop, intent=intent_id, error=str(exc))
            return
        try:
            intent = plain(await call(intents.retrieve_async(intent_id)))
        except (Rejected, Unavailable, Declined) as exc:
            log.info("stripe intent not cancelled", shop=shop, intent=intent_id, error=str(exc))
            return
        async with self.db.session() as session, session.begin():
            await self.settle_intent(session, shop, intent)

    # ------------------------------------------------------------------------- reconciler

    async def reconcile_once(self) -> int:
        """Ask Stripe about payments and refunds left unsettled too long; returns how many."""
        now = utcnow()
        limit = self.settings.reconcile_batch
        async with self.db.reader() as session:
            payments = (
                await session.execute(
                    sa.select(P)
                    .where(P.c.status.in_(_OPEN), P.c.check_after <= now,
                           P.c.provider_intent_id.is_not(None))
                    .order_by(P.c.check_after).limit(limit)
                )
            ).all()  # fmt: skip
            refunds = (
                await session.execute(
                    sa.select(R.c.id)
                    .where(R.c.status == RefundStatus.PENDING.value, R.c.check_after <= now)
                    .order_by(R.c.check_after).limit(limit)
                )
            ).scalars().all()  # fmt: skip
        for row in payments:
            await self._reconcile_payment(row)
        for refund_id in refunds:
            await self.execute_refund(refund_id, look_first=True)
        return len(payments) + len(refunds)

    async def _reconcile_payment(self, row: Any) -> None:
        backoff = min(MAX_BACKOFF_S, self.settings.reconcile_after_s * 2 ** min(row.checks, 16))
        try:
            account = await self.accounts.account(row.shop)
            intent = plain(
                await call(account.client.v1.payment_intents.retrieve_async(row.provider_intent_id))
            )
        except Rejected as exc:
            if exc.status == 404:  # Stripe no longer knows it (an emulator restarted)
                async with self.db.session() as session, session.begin():
                    await self._fail(session, row, "processing_error",
                                     "Stripe no longer knows this payment.")  # fmt: skip
                return
            intent = None
        except (Unavailable, Problem):
            intent = None
        async with self.db.session() as session, session.begin():
            if intent is not None:
                await self.settle_intent(session, row.shop, intent)
            await session.execute(
                sa.update(P)
                .where(P.c.id == row.id, P.c.status.in_(_OPEN))
                .values(check_after=utcnow() + timedelta(seconds=max(backoff, 1.0)),
                        checks=P.c.checks + 1)
            )  # fmt: skip


def _rejected(exc: Rejected) -> Problem:
    if exc.param == "payment_method" or (exc.param is None and exc.status == 404):
        return field_problem(
            422, "body.payment_method", f"Stripe does not accept it: {exc.message}",
            slug="invalid-payment-method",
        )  # fmt: skip
    return Problem(409, f"Stripe refused the request: {exc.message}", slug="payment-refused")
