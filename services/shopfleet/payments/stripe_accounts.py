"""Stripe, per shop: which key and address each shop uses, and its webhook secret.

A shop with a `stripe_secret_key` secret talks to Stripe with it (webhook secret:
`stripe_webhook_secret`). A shop without one is served by the local emulator, when
emulation is allowed: the emulator is started on first need, and the shop's webhook is
registered there with a secret generated once and kept in the state store.
"""

from __future__ import annotations

import asyncio
import secrets

import aiohttp
import stripe
import structlog

from shopfleet.kit.blocks import Blocks
from shopfleet.kit.contracts.secrets import STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from shopfleet.kit.refusals import UnavailableRefusal
from shopfleet.payments.emulator import EmulatorUnavailable, StripeEmulator, register_webhook
from shopfleet.payments.provider import Account, Unavailable
from shopfleet.payments.settings import PaymentsSettings

log = structlog.get_logger("shopfleet.payments.stripe")

SECRET_KEY = STRIPE_SECRET_KEY  # kit/contracts/secrets.py: the operator writes the same names
WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
WEBHOOK_PATH = "/shops/{shop}/api/v1/payments/webhooks/stripe"
_EMULATED_SECRET_KEY = "payments:stripe-emulator:webhook-secret:{shop}"


class PaymentsNotConfigured(UnavailableRefusal):
    """No key and no emulator: waiting will not help (no Retry-After)."""

    default_slug = "payments-not-configured"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retry_after_s=None)


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
            raise PaymentsNotConfigured(
                "Payments are not configured for this shop: it has no Stripe key "
                f"(secret '{SECRET_KEY}'), and the Stripe emulator is off."
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
