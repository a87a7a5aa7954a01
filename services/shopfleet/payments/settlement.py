"""Settling: the two paths every source of Stripe's word goes through, whichever told us (the
confirm call's answer, a webhook, the reconciler, order.cancelled): `settle_intent` and
`settle_refund`; and the work they start (refunds, cancellations at Stripe).

A change is decided by the domain on the loaded payment (or refund), stored only while it is
still in the states it was decided on, and its event is added (outbox) only when it was
stored: a second source telling the same thing changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.events import PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_SUCCEEDED
from shopfleet.kit.db import Database, utcnow
from shopfleet.kit.outbox import Outbox
from shopfleet.kit.refusals import Refusal
from shopfleet.payments.background import Background, after_commit
from shopfleet.payments.domain.access import existing_payment
from shopfleet.payments.domain.from_stripe import Intent, StripeRefund
from shopfleet.payments.domain.payment import (
    PaymentRecord,
    RefundReason,
    RefundRecord,
    RefundStatus,
)
from shopfleet.payments.domain.rechecks import first_check_at
from shopfleet.payments.domain.refunds import (
    RefundFailed,
    RefundSucceeded,
    RefundUnderWay,
    adopts_refund,
    payment_refunded,
    refund_amount,
    refund_taken_meanwhile,
    settle_refund,
)
from shopfleet.payments.domain.settling import (
    Capture,
    Change,
    Fail,
    Move,
    payment_failed,
    payment_succeeded,
    settle_intent,
)
from shopfleet.payments.provider import Declined, Rejected, Unavailable, refused_refund
from shopfleet.payments.settings import PaymentsSettings
from shopfleet.payments.store.payments import PaymentsStore, reading, writing
from shopfleet.payments.stripe_accounts import StripeAccounts

log = structlog.get_logger("shopfleet.payments")

Decide = Callable[[PaymentRecord], Change | None]

# A decision is made again only when its payment left the states it was decided on, and a
# payment leaves open for given up or captured, and given up for captured: three at most.
SETTLE_ATTEMPTS = 3


def told(intent: Intent) -> Decide:
    """The decision on a payment, given what Stripe told of its intent."""
    return functools.partial(settle_intent, intent=intent)


class Settlement:
    def __init__(
        self,
        db: Database,
        accounts: StripeAccounts,
        settings: PaymentsSettings,
        background: Background,
    ) -> None:
        self.db, self.accounts, self.settings = db, accounts, settings
        self.background = background

    def check_after(self) -> datetime:
        return first_check_at(utcnow(), self.settings.reconcile_after_s)

    # ------------------------------------------------------------------------- intents

    async def settle_intent(self, session: AsyncSession, shop: str, intent: Intent) -> None:
        """Apply what Stripe says of an intent (the one path for every source)."""
        await self.settle(session, shop, intent.id, told(intent))

    async def settle_now(self, shop: str, intent_id: str, decide: Decide) -> PaymentRecord | None:
        """`settle`, in a transaction of its own."""
        async with self.db.session() as session, session.begin():
            return await self.settle(session, shop, intent_id, decide)

    async def settle(
        self, session: AsyncSession, shop: str, intent_id: str, decide: Decide
    ) -> PaymentRecord | None:
        """Decide on the intent's payment as it is, and store the change (decide again if
        the payment moved meanwhile).

        The payment as the change left it when the change moved an open payment (one that
        has no refunds: only a captured payment is refunded), so a caller answers it
        without reading it again; None otherwise (nothing changed, or a late capture)."""
        store = PaymentsStore(session)
        for _attempt in range(SETTLE_ATTEMPTS):
            payment = await store.payment_by_intent(shop, intent_id)
            if payment is None:
                log.info("stripe intent is not this shop's", shop=shop, intent=intent_id)
                return None
            change = decide(payment)
            if change is None:
                return None
            stored = await self._apply(store, payment, change)
            if stored is not None:
                return stored if payment.is_open else None
        return None

    async def _apply(
        self, store: PaymentsStore, payment: PaymentRecord, change: Change
    ) -> PaymentRecord | None:
        """Store the change if the payment is still where it was decided on; its event too.
        The payment as stored then (None: it had moved)."""
        match change:
            case Move():
                return await store.move(payment, change, utcnow())
            case Fail():
                return await self._fail(store, payment, change)
            case Capture():
                return await self._capture(store, payment, change)

    async def _fail(
        self, store: PaymentsStore, payment: PaymentRecord, failure: Fail
    ) -> PaymentRecord | None:
        now = utcnow()
        stored = await store.fail(payment, failure, now)
        if stored is None:
            return None
        event = payment_failed(payment, failure, now)
        await Outbox.add(store.session, PAYMENT_FAILED, event, shop=payment.shop)
        return stored

    async def _capture(
        self, store: PaymentsStore, payment: PaymentRecord, capture: Capture
    ) -> PaymentRecord | None:
        now = utcnow()
        stored = await store.capture(payment, capture, now)
        if stored is None:
            return None
        if not capture.late:
            event = payment_succeeded(payment, capture.received, now)
            await Outbox.add(store.session, PAYMENT_SUCCEEDED, event, shop=payment.shop)
            return stored
        # Money taken for a payment we had given up: recorded above, and given back.
        log.warning("captured after cancel: refunding", payment=payment.id, shop=payment.shop)
        reason = RefundReason.ORDER_CANCELLED
        await self.reserve_refund(store, payment.shop, payment.id, None, reason)
        return stored

    async def cancel_open(self, store: PaymentsStore, payment: PaymentRecord) -> None:
        """Cancel an open payment; its intent at Stripe once the transaction commits."""
        intent_id = payment.provider_intent_id
        if await store.cancel_open(payment.id, utcnow()) and intent_id is not None:
            cancel = functools.partial(self.cancel_at_stripe, payment.shop, intent_id)
            after_commit(store.session, lambda: self.background.spawn(cancel()))

    async def cancel_at_stripe(self, shop: str, intent_id: str) -> None:
        account = await self.accounts.account(shop)
        try:
            await account.cancel(intent_id)
            return
        except Rejected:
            pass  # not cancellable: most likely paid meanwhile; Stripe says below
        except (Unavailable, Declined) as exc:
            # The intent stays unconfirmable through us; if it is paid in the browser
            # anyway, its webhook (or the reconciler) records and refunds it.
            log.info("stripe intent not cancelled", shop=shop, intent=intent_id, error=str(exc))
            return
        try:
            intent = await account.retrieve(intent_id)
        except (Rejected, Unavailable, Declined) as exc:
            log.info("stripe intent not cancelled", shop=shop, intent=intent_id, error=str(exc))
            return
        await self.settle_now(shop, intent.id, told(intent))

    # ------------------------------------------------------------------------- refunds

    async def reserve_refund(
        self,
        store: PaymentsStore,
        shop: str,
        payment_id: str,
        amount: int | None,
        reason: RefundReason,
    ) -> str:
        """Hold `amount` (None: all that is left) of a captured payment for a new refund.

        The store's conditional update is the guard: concurrent refunds never hold more than
        was captured. A refund held for a cancelled order runs once the transaction commits.
        """
        payment = existing_payment(await store.payment(shop, payment_id), payment_id)
        wanted = refund_amount(payment, amount)
        if not await store.refunds.hold(payment_id, wanted, utcnow()):
            raise refund_taken_meanwhile()
        refund_id = await store.refunds.add_pending(payment, wanted, reason, self.check_after())
        if reason is RefundReason.ORDER_CANCELLED:
            run = functools.partial(self.execute_refund, refund_id)
            after_commit(store.session, lambda: self.background.spawn(run()))
        return refund_id

    async def execute_refund(self, refund_id: str, *, look_first: bool = False) -> Refusal | None:
        """Ask Stripe for a held refund and settle it; None when done or still under way."""
        async with reading(self.db) as store:
            refund = await store.refunds.get(refund_id)
            if refund is None or refund.status is not RefundStatus.PENDING:
                return None
            found = await store.payment(refund.shop, refund.payment_id)
        payment = existing_payment(found, refund.payment_id)
        account = await self.accounts.account(refund.shop)
        try:
            made = await account.refund(payment.intent_id, refund, look_first=look_first)
        except Unavailable as exc:
            async with writing(self.db) as store:
                await store.refunds.check_again_at(refund_id, self.check_after())
            return exc.refusal("refund the payment")
        except (Rejected, Declined) as exc:
            async with self.db.session() as session, session.begin():
                await self.settle_refund(session, refund_id, None, "failed", str(exc))
            return refused_refund(exc)
        async with self.db.session() as session, session.begin():
            await self.settle_refund(session, refund_id, made.id, made.status, None)
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
        store = PaymentsStore(session)
        refund = await store.refunds.get(refund_id)
        if refund is None:
            return
        now = utcnow()
        match settle_refund(refund, provider_id, status, failure):
            case RefundSucceeded() as succeeded:
                await self._refund_succeeded(store, refund, succeeded)
            case RefundFailed() as failed:
                await store.refunds.failed(refund, failed.provider_id, failed.message, now)
            case RefundUnderWay() as under_way:
                await store.refunds.note_provider_id(refund_id, under_way.provider_id, now)

    async def _refund_succeeded(
        self, store: PaymentsStore, refund: RefundRecord, succeeded: RefundSucceeded
    ) -> None:
        now = utcnow()
        if not await store.refunds.succeeded(refund, succeeded.provider_id, now):
            return
        found = await store.payment(refund.shop, refund.payment_id)
        event = payment_refunded(refund, existing_payment(found, refund.payment_id), now)
        await Outbox.add(store.session, PAYMENT_REFUNDED, event, shop=refund.shop)

    async def apply_charge_refunds(
        self, session: AsyncSession, shop: str, intent_id: str, refunds: list[StripeRefund]
    ) -> None:
        """`charge.refunded`: settle ours; record refunds made outside this service too."""
        store = PaymentsStore(session)
        payment = await store.payment_by_intent(shop, intent_id)
        if payment is None:
            return
        for made in refunds:
            known = await store.refunds.known(payment.id, made.refund_id, made.id)
            if known is None:  # made at Stripe directly (e.g. in its dashboard)
                known = await self._adopt(store, payment, made)
            if known is not None:
                await self.settle_refund(session, known, made.id, made.status, None)

    async def _adopt(
        self, store: PaymentsStore, payment: PaymentRecord, made: StripeRefund
    ) -> str | None:
        """A refund made outside payments, as one of ours (None: not recorded)."""
        if not adopts_refund(made):
            return None
        reason = RefundReason.REQUESTED
        try:
            return await self.reserve_refund(store, payment.shop, payment.id, made.amount, reason)
        except Refusal:
            log.warning("stripe refund beyond what we captured", refund=made.id)
            return None
