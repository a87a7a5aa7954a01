"""Stripe, as payments calls it: each call of the SDK payments makes, what Stripe's errors
mean (`Declined`, `Rejected`, `Unavailable`), and the refusal each is answered with.

Which key and address each shop uses (or the local emulator) is `stripe_accounts.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import stripe
from pydantic import TypeAdapter, ValidationError
from stripe.params import (
    PaymentIntentCreateParams,
    PaymentIntentUpdateParams,
    RefundCreateParams,
    RefundListParams,
)

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.refusals import (
    DeclinedRefusal,
    InvalidRefusal,
    Refusal,
    StateRefusal,
    UnavailableRefusal,
    UpstreamRefusal,
)
from shopfleet.payments.domain.from_stripe import Intent, IntentError, StripeRefund
from shopfleet.payments.domain.payment import RefundRecord
from shopfleet.payments.stripe_events import RefundObject

T = TypeVar("T")
RETRY_AFTER_S = 5
_REFUNDS = TypeAdapter(list[RefundObject])


# ----------------------------------------------------------------------------- answers


class ProviderUnavailable(UnavailableRefusal):
    default_slug = "payment-provider-unavailable"


class ProviderFailing(UpstreamRefusal):
    """Stripe answered 5xx: like unavailable (retry later), answered 502."""

    default_slug = "payment-provider-unavailable"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class CardDeclined(DeclinedRefusal):
    default_slug = "card-declined"


class PaymentRefused(StateRefusal):
    default_slug = "payment-refused"


class RefundRefused(StateRefusal):
    default_slug = "refund-refused"


# ----------------------------------------------------------------------------- Stripe's errors


class Declined(Exception):
    """Stripe declined the card: the payment failed for good."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def refusal(self, payment_id: str) -> CardDeclined:
        return CardDeclined(
            f"The card was declined ({self.code}): {self.message}",
            payment_id=payment_id,
            code=self.code,
        )


class Rejected(Exception):
    """Stripe refused the request (4xx): nothing happened there."""

    def __init__(self, status: int, message: str, code: str | None, param: str | None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def refusal(self) -> Refusal:
        """Refused for the payment method the shopper gave (fix it), or for another reason."""
        if self.param == "payment_method" or (self.param is None and self.status == 404):
            return InvalidRefusal(
                "body.payment_method",
                f"Stripe does not accept it: {self.message}",
                slug="invalid-payment-method",
            )
        return PaymentRefused(f"Stripe refused the request: {self.message}")


class Unavailable(Exception):
    """Stripe could not be reached or failed (5xx): the outcome is unknown, retry later."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def refusal(self, what: str) -> ProviderUnavailable | ProviderFailing:
        detail = (
            f"Stripe could not {what} ({self.message}); the payment is kept as it was and is "
            "checked again shortly: retry, or look at GET /payments/{id}."
        )
        if self.status == 502:
            return ProviderFailing(detail, retry_after_s=RETRY_AFTER_S)
        return ProviderUnavailable(detail, retry_after_s=RETRY_AFTER_S)


def refused_refund(exc: Rejected | Declined) -> RefundRefused:
    return RefundRefused(f"Stripe refused the refund: {exc}")


async def call(awaitable: Awaitable[T]) -> T:
    """Await a Stripe SDK call, turning its errors into ours."""
    try:
        return await awaitable
    except stripe.CardError as exc:
        raise Declined(exc.code or "card_declined", exc.user_message or str(exc)) from None
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise Unavailable(503, exc.user_message or type(exc).__name__) from None
    except stripe.AuthenticationError:
        raise Unavailable(503, "the shop's Stripe key was refused") from None
    except stripe.StripeError as exc:
        status = exc.http_status or 502
        if status >= 500 or isinstance(exc, stripe.APIError):
            raise Unavailable(502, f"Stripe answered {status}") from None
        param = getattr(exc, "param", None)
        raise Rejected(status, exc.user_message or str(exc), exc.code, param) from None


# ----------------------------------------------------------------------------- the calls


@dataclass(frozen=True, slots=True)
class Account:
    """One shop's Stripe account, and the calls payments makes on it."""

    shop: str
    client: stripe.StripeClient
    emulated: bool

    async def create_intent(
        self, payment_id: str, order: OrderSummary, payment_method: str | None
    ) -> Intent:
        """The order's intent; the same key for the same order and total makes it once."""
        amount, currency = order.total.amount, order.total.currency
        metadata = {
            "shop": self.shop,
            "order_id": order.order_id,
            "payment_id": payment_id,
            "user_id": order.user_id,
        }
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        if payment_method:
            params["payment_method"] = payment_method
        key = f"{self.shop}:{order.order_id}:{amount}{currency}"
        # The SDK's typed params lack `payment_method_types`, which our API version (and
        # the emulator) take.
        typed = cast(PaymentIntentCreateParams, params)
        made = self._intents.create_async(typed, {"idempotency_key": key})
        return intent_from(await call(made))

    async def update_amount(self, intent_id: str, amount: int) -> None:
        change: PaymentIntentUpdateParams = {"amount": amount}
        await call(self._intents.update_async(intent_id, change))

    async def confirm(self, intent_id: str, new_payment_method: str | None) -> Intent:
        if new_payment_method is not None:
            # Set first, then confirm: works on Stripe and on the emulator alike.
            change: PaymentIntentUpdateParams = {"payment_method": new_payment_method}
            await call(self._intents.update_async(intent_id, change))
        return intent_from(await call(self._intents.confirm_async(intent_id)))

    async def retrieve(self, intent_id: str) -> Intent:
        return intent_from(await call(self._intents.retrieve_async(intent_id)))

    async def cancel(self, intent_id: str) -> None:
        await call(self._intents.cancel_async(intent_id))

    async def refund(
        self, intent_id: str, refund: RefundRecord, *, look_first: bool
    ) -> StripeRefund:
        """Make our refund at Stripe; `look_first` (a retry): Stripe may have made it."""
        found = await self._find_refund(intent_id, refund.id) if look_first else None
        if found is not None:
            return found
        metadata = {"refund_id": refund.id, "payment_id": refund.payment_id, "shop": refund.shop}
        params: RefundCreateParams = {
            "payment_intent": intent_id,
            "amount": refund.amount,
            "metadata": metadata,
        }
        made = self.client.v1.refunds.create_async(
            params, {"idempotency_key": f"refund:{refund.id}"}
        )
        return refund_from(plain(await call(made)))

    async def refunds_of(self, intent_id: str) -> list[StripeRefund]:
        """The intent's refunds, read as strictly as a webhook's."""
        listed = await self._listed(intent_id)
        try:
            return [r.as_refund() for r in _REFUNDS.validate_python(listed)]
        except ValidationError:
            raise UpstreamRefusal("Stripe answered refunds we cannot read; retry later.") from None

    @property
    def _intents(self) -> stripe.PaymentIntentService:
        return self.client.v1.payment_intents

    async def _find_refund(self, intent_id: str, refund_id: str) -> StripeRefund | None:
        for listed in await self._listed(intent_id):
            if (listed.get("metadata") or {}).get("refund_id") == refund_id:
                return refund_from(listed)
        return None

    async def _listed(self, intent_id: str) -> list[dict[str, Any]]:
        params: RefundListParams = {"payment_intent": intent_id, "limit": 100}
        listed = await call(self.client.v1.refunds.list_async(params))
        return [plain(r) for r in listed.data]


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as a plain dict."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def intent_from(obj: Any) -> Intent:
    data = plain(obj)
    error = data.get("last_payment_error")
    return Intent(
        id=data["id"],
        status=data.get("status"),
        amount=data.get("amount"),
        amount_received=data.get("amount_received"),
        error=IntentError(error.get("code"), error.get("message")) if error else None,
        client_secret=data.get("client_secret"),
        payment_method=data.get("payment_method") or None,
    )


def refund_from(data: dict[str, Any]) -> StripeRefund:
    ours = (data.get("metadata") or {}).get("refund_id")
    return StripeRefund(data["id"], int(data.get("amount") or 0), data.get("status"), ours)
