"""Stripe, per shop: which key and address each shop uses, and what Stripe's errors mean.

A shop with a `stripe_secret_key` secret talks to Stripe with it (webhook secret:
`stripe_webhook_secret`). A shop without one is served by the local emulator, when
emulation is allowed: the emulator is started on first need, and the shop's webhook is
registered there with a secret generated once and kept in the state store.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import stripe
import structlog

from shopfleet.kit.blocks import Blocks
from shopfleet.kit.errors import Problem
from shopfleet.payments.emulator import EmulatorUnavailable, StripeEmulator, register_webhook
from shopfleet.payments.settings import PaymentsSettings

log = structlog.get_logger("shopfleet.payments.stripe")

SECRET_KEY = "stripe_secret_key"
WEBHOOK_SECRET = "stripe_webhook_secret"
WEBHOOK_PATH = "/shops/{shop}/api/v1/payments/webhooks/stripe"
_EMULATED_SECRET_KEY = "payments:stripe-emulator:webhook-secret:{shop}"

T = TypeVar("T")


class Declined(Exception):
    """Stripe declined the card: the payment failed for good."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Rejected(Exception):
    """Stripe refused the request (4xx): nothing happened there."""

    def __init__(self, status: int, message: str, code: str | None, param: str | None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


class Unavailable(Exception):
    """Stripe could not be reached or failed (5xx): the outcome is unknown, retry later."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def problem(self, what: str) -> Problem:
        return Problem(
            self.status,
            f"Stripe could not {what} ({self.message}); the payment is kept as it was and is "
            "checked again shortly: retry, or look at GET /payments/{id}.",
            slug="payment-provider-unavailable",
            headers={"Retry-After": "5"},
        )


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


@dataclass(frozen=True, slots=True)
class Account:
    shop: str
    client: stripe.StripeClient
    emulated: bool


class StripeAccounts:
    """The Stripe client of each shop, and the emulator when a shop has no key."""

    def __init__(self, settings: PaymentsSettings, blocks: Blocks) -> None:
        self.settings, self.blocks = settings, blocks
        self.emulator = StripeEmulator(
            log_path=settings.platform.data_dir / "logs" / "stripe-emulator.log",
            webhook_delay_s=settings.stripe_emulator_webhook_delay_s,
        )
        self.session: aiohttp.ClientSession | None = None
        self._http: stripe.AIOHTTPClient | None = None
        self._clients: dict[tuple[str, str], stripe.StripeClient] = {}
        self._registered: dict[str, str] = {}  # shop -> emulator URL its webhook points from
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(total=self.settings.stripe_timeout_s),
        )
        self._http = stripe.AIOHTTPClient(
            session=self.session,
            timeout=aiohttp.ClientTimeout(total=self.settings.stripe_timeout_s),
        )

    async def stop(self) -> None:
        await self.emulator.stop()
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def start_emulator(self) -> str:
        """Start the emulator now (it starts on first need otherwise); returns its URL."""
        assert self.session is not None, "StripeAccounts.start() was not awaited"
        return self.settings.stripe_emulator_url or await self.emulator.ensure_started(self.session)

    @property
    def emulator_pid(self) -> int | None:
        """The emulator process's id (to measure its CPU apart), None if not running."""
        return self.emulator.pid

    async def account(self, shop: str) -> Account:
        key = await self.blocks.secrets.get(shop, SECRET_KEY)
        if key:
            return Account(shop, self._client(key, self.settings.stripe_api_base), emulated=False)
        url = await self._emulator_for(shop)
        return Account(shop, self._client(f"sk_test_emulated_{shop}", url), emulated=True)

    async def webhook_secret(self, shop: str) -> str | None:
        """The secret that signs `shop`'s webhooks (None: none configured)."""
        if await self.blocks.secrets.get(shop, SECRET_KEY):
            return await self.blocks.secrets.get(shop, WEBHOOK_SECRET)
        if self.settings.stripe_emulator == "off":
            return None
        return await self._emulated_secret(shop, create=False)

    def _client(self, api_key: str, base: str | None) -> stripe.StripeClient:
        cached = self._clients.get((api_key, base or ""))
        if cached is None:
            assert self._http is not None, "StripeAccounts.start() was not awaited"
            cached = stripe.StripeClient(
                api_key,
                base_addresses={"api": base} if base else None,
                http_client=self._http,
                max_network_retries=0,  # the reconciler is our retry: it knows what happened
            )
            self._clients[(api_key, base or "")] = cached
        return cached

    async def _emulator_for(self, shop: str) -> str:
        if self.settings.stripe_emulator == "off":
            raise Problem(
                503,
                "Payments are not configured for this shop: it has no Stripe key "
                f"(secret '{SECRET_KEY}'), and the Stripe emulator is off.",
                slug="payments-not-configured",
            )
        assert self.session is not None
        try:
            url = await self.start_emulator()
            if self._registered.get(shop) != url:
                async with self._lock:
                    if self._registered.get(shop) != url:
                        await self._register(shop, url)
        except (EmulatorUnavailable, aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(503, f"the Stripe emulator is unavailable: {exc}") from None
        return url

    async def _register(self, shop: str, emulator_url: str) -> None:
        assert self.session is not None
        base = self.settings.webhook_base_url or self.settings.platform.public_url
        if base is None:
            log.warning("no webhook URL: payments settle by polling", shop=shop)
        else:
            secret = await self._emulated_secret(shop, create=True)
            assert secret is not None
            target = base.rstrip("/") + WEBHOOK_PATH.format(shop=shop)
            await register_webhook(self.session, emulator_url, shop, target, secret)
        self._registered[shop] = emulator_url

    async def _emulated_secret(self, shop: str, *, create: bool) -> str | None:
        key = _EMULATED_SECRET_KEY.format(shop=shop)
        item = await self.blocks.state.get(key)
        if item is not None:
            return str(item.value)
        if not create:
            return None
        secret = "whsec_" + secrets.token_urlsafe(32)
        await self.blocks.state.save(key, secret)
        return secret


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as a plain dict."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
