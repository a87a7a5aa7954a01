"""Stripe's webhooks: verify the signature with the shop's secret, de-duplicate the event
id, and settle through the same functions as every other source."""

from __future__ import annotations

from typing import Any

import orjson
import stripe

from shopfleet.kit.errors import Problem
from shopfleet.payments.provider import Unavailable, call, plain
from shopfleet.payments.service import PaymentsService

INTENT_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
CHARGE_REFUNDED = "charge.refunded"


def _bad(detail: str) -> Problem:
    return Problem(400, detail, slug="invalid-webhook")


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
        event = orjson.loads(payload)
        event_id, kind, obj = event["id"], event["type"], event["data"]["object"]
    except stripe.SignatureVerificationError as exc:
        raise _bad(f"The Stripe signature does not verify: {exc.user_message or exc}") from None
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        raise _bad("The body is not a Stripe event.") from None
    if not isinstance(event_id, str) or not isinstance(obj, dict):
        raise _bad("The body is not a Stripe event.")
    refunds: list[dict[str, Any]] | None = None
    intent_id = obj.get("payment_intent") if kind == CHARGE_REFUNDED else None
    if isinstance(intent_id, str):
        refunds = (obj.get("refunds") or {}).get("data")
        if refunds is None:  # newer API versions leave the list out of the charge
            try:
                account = await payments.accounts.account(shop)
                listed = await call(
                    account.client.v1.refunds.list_async(
                        {"payment_intent": intent_id, "limit": 100}
                    )
                )
            except Unavailable as exc:
                raise exc.problem("list the refunds") from None  # 503: Stripe delivers again
            refunds = [plain(r) for r in listed.data]
    async with payments.db.session() as session, session.begin():
        if not await payments.record_event(session, shop, event_id, str(kind)):
            return False
        if kind in INTENT_EVENTS and isinstance(obj.get("id"), str):
            await payments.settle_intent(session, shop, obj)
        elif isinstance(intent_id, str) and refunds is not None:
            await payments.apply_charge_refunds(session, shop, intent_id, refunds)
    return True
