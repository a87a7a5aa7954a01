"""Payments' use cases: intents, confirmation, refunds, Stripe's webhooks, order.cancelled
and the reconciler's rounds.

Each loads what it needs (`store/`), lets the domain decide (`domain/`), then stores the
change and its event (outbox) in one transaction. Stripe is called through `provider.py`,
orders through `clients.py`; what Stripe says of an intent or a refund is settled by
`settlement.py`, the one path for every source.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import Database, utcnow
from shopfleet.kit.refusals import Refusal
from shopfleet.payments.background import Background
from shopfleet.payments.clients import orders_client
from shopfleet.payments.domain.access import existing_payment, seen_by
from shopfleet.payments.domain.from_stripe import Intent, StripeRefund, unconfirmed
from shopfleet.payments.domain.intents import (
    Confirm,
    FollowTotal,
    MakeIntent,
    ReusePayment,
    payable_order,
    plan_confirm,
    plan_intent,
)
from shopfleet.payments.domain.payment import PaymentRecord, PaymentStatus, RefundReason
from shopfleet.payments.domain.rechecks import recheck_delay_s
from shopfleet.payments.domain.refunds import (
    CancelOpen,
    RefundRest,
    check_refund_currency,
    on_order_cancelled,
)
from shopfleet.payments.domain.settling import fail, forgotten_by_stripe, intent_refused
from shopfleet.payments.models import (
    PaymentDetail,
    PaymentsPage,
    RefundPublic,
    payment_detail,
    payment_public,
    refund_public,
)
from shopfleet.payments.provider import Account, Declined, Rejected, Unavailable
from shopfleet.payments.settings import PaymentsSettings
from shopfleet.payments.settlement import Settlement, told
from shopfleet.payments.store.payments import PaymentsStore, insert_open_payment, reading, writing
from shopfleet.payments.store.webhooks import record_stripe_event
from shopfleet.payments.stripe_accounts import StripeAccounts

log = structlog.get_logger("shopfleet.payments")


class PaymentsService:
    def __init__(
        self, db: Database, accounts: StripeAccounts, invoker: Invoker, settings: PaymentsSettings
    ) -> None:
        self.db, self.accounts, self.settings = db, accounts, settings
        self.orders = orders_client(invoker, timeout_s=settings.platform.call_timeout_s)
        self.background = Background(log, quiet=(Refusal, Unavailable))
        self.settlement = Settlement(db, accounts, settings, self.background)

    async def drain(self) -> None:
        """Wait for background work (refunds, cancellations) started by this process."""
        await self.background.drain()

    # ------------------------------------------------------------------------- reads

    async def detail(
        self, shop: str, payment_id: str, who: Principal | None = None
    ) -> PaymentDetail:
        owner = seen_by(who.user_id, is_admin=who.is_admin) if who else None
        async with reading(self.db) as store:
            found = await store.payment(shop, payment_id, owner=owner)
            payment = existing_payment(found, payment_id)
            refunds = await store.refunds.of_payment(shop, payment_id)
        return payment_detail(payment, refunds)

    async def list_payments(
        self,
        shop: str,
        who: Principal,
        *,
        order_id: str | None,
        status: PaymentStatus | None,
        limit: int,
        after: PageEnd | None,
    ) -> PaymentsPage:
        owner = seen_by(who.user_id, is_admin=who.is_admin)
        async with reading(self.db) as store:
            payments, next_key = await store.page(
                shop, owner=owner, order_id=order_id, status=status, after=after, limit=limit
            )
        next_cursor = next_key.cursor() if next_key is not None else None
        return PaymentsPage(items=[payment_public(p) for p in payments], next_cursor=next_cursor)

    # ------------------------------------------------------------------------- intents

    async def create_intent(
        self, shop: str, who: Principal, order_id: str, payment_method: str | None
    ) -> tuple[PaymentDetail, bool]:
        """The order's open payment (False) or a new one with its intent at Stripe (True)."""
        summary = await self.orders.summary(shop, order_id)
        order = payable_order(summary, order_id, user_id=who.user_id, is_admin=who.is_admin)
        async with reading(self.db) as store:
            existing = await store.open_payment(shop, order_id)
        match plan_intent(order, existing):
            case MakeIntent():  # none yet, or `existing` is still waiting for its intent
                return await self._make_intent(shop, order, existing, payment_method)
            case FollowTotal() as follow:
                await self._follow_total(shop, follow)
                return await self.detail(shop, follow.payment_id), False
            case ReusePayment(payment_id=payment_id):
                return await self.detail(shop, payment_id), False

    async def _make_intent(
        self,
        shop: str,
        order: OrderSummary,
        payment: PaymentRecord | None,
        payment_method: str | None,
    ) -> tuple[PaymentDetail, bool]:
        if payment is None:
            check_after = self.settlement.check_after()
            payment = await insert_open_payment(self.db, shop, order, payment_method, check_after)
        account = await self.accounts.account(shop)
        try:
            intent = await account.create_intent(payment.id, order, payment_method)
        except Unavailable as exc:
            raise exc.refusal("create the payment") from None
        except Rejected as exc:
            refused = intent_refused(exc.code or "invalid_request", exc.message)
            async with writing(self.db) as store:
                await store.fail(payment, refused, utcnow())
            raise exc.refusal() from None
        async with writing(self.db) as store:
            made = await store.attach_intent(payment, intent, utcnow())
        if made is None:  # a concurrent call made its intent first, or the order was cancelled
            self.background.spawn(self.settlement.cancel_at_stripe(shop, intent.id))
            return await self.detail(shop, payment.id), False
        return payment_detail(made, []), True  # a payment just made has no refunds

    async def _follow_total(self, shop: str, follow: FollowTotal) -> None:
        account = await self.accounts.account(shop)
        try:
            await account.update_amount(follow.intent_id, follow.amount)
        except Unavailable as exc:
            raise exc.refusal("update the payment") from None
        except Rejected as exc:
            raise exc.refusal() from None
        async with writing(self.db) as store:
            await store.follow_amount(follow.payment_id, follow.amount, utcnow())

    async def confirm(
        self, shop: str, who: Principal, payment_id: str, payment_method: str | None
    ) -> PaymentDetail:
        owner = seen_by(who.user_id, is_admin=who.is_admin)
        async with reading(self.db) as store:
            found = await store.payment(shop, payment_id, owner=owner)
        plan = plan_confirm(existing_payment(found, payment_id), payment_method)
        if plan is None:
            return await self.detail(shop, payment_id)  # confirmed already: same answer again
        account = await self.accounts.account(shop)
        async with writing(self.db) as store:
            check_after = self.settlement.check_after()
            await store.start_processing(payment_id, plan.payment_method, check_after, utcnow())
        settled = await self._confirm_at_stripe(account, payment_id, plan)
        if settled is not None:  # this confirm moved it: as stored (an open payment's: no refunds)
            return payment_detail(settled, [])
        return await self.detail(shop, payment_id)

    async def _confirm_at_stripe(
        self, account: Account, payment_id: str, plan: Confirm
    ) -> PaymentRecord | None:
        """Confirm at Stripe and settle what it answered: the payment as that left it, if
        it moved it (see `Settlement.settle`)."""
        new_method = plan.payment_method if plan.set_method_first else None
        try:
            intent = await account.confirm(plan.intent_id, new_method)
        except Declined as exc:
            declined = functools.partial(fail, code=exc.code, message=exc.message)
            await self.settlement.settle_now(account.shop, plan.intent_id, declined)
            raise exc.refusal(payment_id) from None
        except Rejected as exc:
            # Refused: maybe it was confirmed already (a second click). Stripe says what is.
            try:
                intent = await account.retrieve(plan.intent_id)
            except (Rejected, Unavailable, Declined):
                intent = Intent(plan.intent_id, "requires_confirmation")
            settled = await self.settlement.settle_now(account.shop, intent.id, told(intent))
            if unconfirmed(intent):
                raise exc.refusal() from None
            return settled
        except Unavailable as exc:
            raise exc.refusal("confirm the payment") from None
        return await self.settlement.settle_now(account.shop, intent.id, told(intent))

    # ------------------------------------------------------------------------- refunds

    async def refund(
        self, shop: str, payment_id: str, amount: int | None, currency: str | None
    ) -> RefundPublic:
        """An admin's refund: hold the amount, then ask Stripe."""
        async with writing(self.db) as store:
            payment = existing_payment(await store.payment(shop, payment_id), payment_id)
            check_refund_currency(payment, currency)
            reason = RefundReason.REQUESTED
            refund_id = await self.settlement.reserve_refund(
                store, shop, payment_id, amount, reason
            )
        refused = await self.settlement.execute_refund(refund_id)
        if refused is not None:
            raise refused
        async with reading(self.db) as store:
            refund = await store.refunds.get(refund_id)
        assert refund is not None, "a refund is never deleted"
        return refund_public(refund)

    # ------------------------------------------------------------------------- webhooks

    async def on_stripe_event(
        self,
        shop: str,
        event_id: str,
        kind: str,
        *,
        intent: Intent | None = None,
        refunded_intent: str | None = None,
        refunds: list[StripeRefund] | None = None,
    ) -> bool:
        """A webhook's event, once; False if it was processed before (nothing changes).

        `refunded_intent`: a charge.refunded's intent, with its `refunds` (None: the event
        does not list them, as newer API versions do: Stripe is asked).
        """
        if refunded_intent is not None and refunds is None:
            refunds = await self._refunds_at_stripe(shop, refunded_intent)
        async with self.db.session() as session, session.begin():
            if not await record_stripe_event(session, shop, event_id, kind, utcnow()):
                return False
            if intent is not None:
                await self.settlement.settle_intent(session, shop, intent)
            elif refunded_intent is not None and refunds is not None:
                await self.settlement.apply_charge_refunds(session, shop, refunded_intent, refunds)
        return True

    async def _refunds_at_stripe(self, shop: str, intent_id: str) -> list[StripeRefund]:
        try:
            account = await self.accounts.account(shop)
            return await account.refunds_of(intent_id)
        except Unavailable as exc:
            raise exc.refusal("list the refunds") from None  # 503: Stripe delivers again

    # ------------------------------------------------------------------------- order.cancelled

    async def order_cancelled(self, session: AsyncSession, shop: str, order_id: str) -> None:
        """Refund a captured payment in full (once); cancel an open one; else nothing."""
        store = PaymentsStore(session)
        for payment, refunding in await store.order_payments(shop, order_id):
            match on_order_cancelled(payment, refunding):
                case RefundRest():
                    reason = RefundReason.ORDER_CANCELLED
                    await self.settlement.reserve_refund(store, shop, payment.id, None, reason)
                case CancelOpen():
                    await self.settlement.cancel_open(store, payment)

    # ------------------------------------------------------------------------- reconciler

    async def reconcile_once(self) -> int:
        """Ask Stripe about payments and refunds left unsettled too long; returns how many."""
        now, batch = utcnow(), self.settings.reconcile_batch
        async with reading(self.db) as store:
            payments = await store.due_payments(now, batch)
            refund_ids = await store.refunds.due(now, batch)
        for payment in payments:
            await self._reconcile_payment(payment)
        for refund_id in refund_ids:
            await self.settlement.execute_refund(refund_id, look_first=True)
        return len(payments) + len(refund_ids)

    async def _reconcile_payment(self, payment: PaymentRecord) -> None:
        intent_id = payment.intent_id  # the store gives only payments with an intent
        try:
            account = await self.accounts.account(payment.shop)
            intent: Intent | None = await account.retrieve(intent_id)
        except Rejected as exc:
            if exc.status == 404:  # Stripe no longer knows it (an emulator restarted)
                forgotten = forgotten_by_stripe
                await self.settlement.settle_now(payment.shop, intent_id, forgotten)
                return
            intent = None
        except (Unavailable, Refusal):
            intent = None
        delay_s = recheck_delay_s(payment.checks, self.settings.reconcile_after_s)
        async with self.db.session() as session, session.begin():
            if intent is not None:
                await self.settlement.settle_intent(session, payment.shop, intent)
            next_check = utcnow() + timedelta(seconds=delay_s)
            await PaymentsStore(session).check_again_at(payment.id, next_check)
