"""Stripe's webhooks: verify the signature with the shop's secret, parse the event into the
models of `stripe_events` (another shape is a 400, logged), de-duplicate the event id, and
settle through the same functions as every other source."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import stripe
import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError

from shopfleet.kit.errors import Problem
from shopfleet.payments.provider import Unavailable, call, plain
from shopfleet.payments.service import PaymentsService
from shopfleet.payments.stripe_events import (
    ChargeObject,
    IntentObject,
    RefundObject,
    StripeEvent,
)

log = structlog.get_logger("shopfleet.payments.webhooks")

INTENT_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
CHARGE_REFUNDED = "charge.refunded"
_REFUNDS = TypeAdapter(list[RefundObject])
M = TypeVar("M", bound=BaseModel)


def _bad(detail: str) -> Problem:
    return Problem(400, detail, slug="invalid-webhook")


def _parse(model: type[M], value: Any, shop: str, what: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        log.warning("malformed stripe webhook", shop=shop, what=what, errors=errors)
        raise _bad(f"The body is not a Stripe {what}: {'; '.join(errors)}.") from None


async def handle_stripe_webhook(
    payments: PaymentsService, shop: str, payload: bytes, signature: str | None
) -> bool:
    """Process one delivery; False if the event was processed before (nothing changes)."""
    secret = await payments.accounts.webhook_secret(shop)
    if not secret:
        raise _bad("This shop has no Stripe webhook secret: the webhook cannot be verified.")
    if not signature:
        raise _bad("The Stripe-Signature header is missing.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, payments.settings.webhook_tolerance_s
        )
        body = orjson.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise _bad(f"The Stripe signature does not verify: {exc.user_message or exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise _bad("The body is not a Stripe event.") from None
    event = _parse(StripeEvent, body, shop, "event")
    intent: IntentObject | None = None
    refunds: list[dict[str, Any]] | None = None
    intent_id: str | None = None
    if event.type in INTENT_EVENTS:
        intent = _parse(IntentObject, event.data.object, shop, "payment intent")
    elif event.type == CHARGE_REFUNDED:
        charge = _parse(ChargeObject, event.data.object, shop, "charge")
        intent_id = charge.payment_intent
        if intent_id is not None and charge.refunds is not None:
            refunds = [r.model_dump() for r in charge.refunds.data]
        elif intent_id is not None:  # newer API versions leave the list out of the charge
            refunds = await _listed_refunds(payments, shop, intent_id)
    async with payments.db.session() as session, session.begin():
        if not await payments.record_event(session, shop, event.id, event.type):
            return False
        if intent is not None:
            await payments.settle_intent(session, shop, intent.model_dump())
        elif intent_id is not None and refunds is not None:
            await payments.apply_charge_refunds(session, shop, intent_id, refunds)
    return True


async def _listed_refunds(
    payments: PaymentsService, shop: str, intent_id: str
) -> list[dict[str, Any]]:
    try:
        account = await payments.accounts.account(shop)
        listed = await call(
            account.client.v1.refunds.list_async({"payment_intent": intent_id, "limit": 100})
        )
    except Unavailable as exc:
        raise exc.problem("list the refunds") from None  # 503: Stripe delivers again
    try:
        return [r.model_dump() for r in _REFUNDS.validate_python([plain(r) for r in listed.data])]
    except ValidationError:
        log.warning("stripe listed malformed refunds", shop=shop, intent=intent_id)
        raise Problem(502, "Stripe answered refunds we cannot read; retry later.") from None
