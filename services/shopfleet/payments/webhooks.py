"""Stripe's webhooks, the entry point: verify the signature with the shop's secret, parse the
event into the models of `stripe_events` (another shape is a 400, logged), and hand it to
`PaymentsService.on_stripe_event`, which de-duplicates it and settles it through the same
paths as every other source."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import stripe
import structlog
from pydantic import BaseModel, ValidationError

from shopfleet.kit.errors import Problem
from shopfleet.payments.service import PaymentsService
from shopfleet.payments.stripe_events import ChargeObject, IntentObject, StripeEvent

log = structlog.get_logger("shopfleet.payments.webhooks")

INTENT_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
CHARGE_REFUNDED = "charge.refunded"
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
    event = _verified(payload, signature, secret, payments.settings.webhook_tolerance_s, shop)
    if event.type in INTENT_EVENTS:
        intent = _parse(IntentObject, event.data.object, shop, "payment intent")
        return await payments.on_stripe_event(shop, event.id, event.type, intent=intent.as_intent())
    if event.type == CHARGE_REFUNDED:
        charge = _parse(ChargeObject, event.data.object, shop, "charge")
        listed = charge.refunds  # newer API versions leave the list out of the charge
        refunds = [r.as_refund() for r in listed.data] if listed is not None else None
        return await payments.on_stripe_event(
            shop, event.id, event.type, refunded_intent=charge.payment_intent, refunds=refunds
        )
    return await payments.on_stripe_event(shop, event.id, event.type)


def _verified(
    payload: bytes, signature: str | None, secret: str | None, tolerance_s: int, shop: str
) -> StripeEvent:
    if not secret:
        raise _bad("This shop has no Stripe webhook secret: the webhook cannot be verified.")
    if not signature:
        raise _bad("The Stripe-Signature header is missing.")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance_s)
        body = orjson.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise _bad(f"The Stripe signature does not verify: {exc.user_message or exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise _bad("The body is not a Stripe event.") from None
    return _parse(StripeEvent, body, shop, "event")
