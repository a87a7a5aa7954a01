"""Payments apps on real sockets against the real Stripe emulator (one process per session),
on a fresh database (SQLite or PostgreSQL) per test, with an orders double for the order
summaries payments reads, and the recording pub/sub for what it publishes and consumes.

Each test gets its own shop slug, so the emulator's webhooks of one test never reach
another test's app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, HTTPException

from shopfleet.kit.blocks import Blocks, CloudEvent
from shopfleet.kit.blocks.local import LocalSecrets, LocalStateStore
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.blocks.local.secrets import env_name
from shopfleet.kit.contracts.events import ORDER_CANCELLED, OrderCancelled
from shopfleet.kit.contracts.orders import ORDER_SUMMARY_PATH, OrderSummary
from shopfleet.kit.money import Money
from shopfleet.kit.settings import PlatformSettings
from shopfleet.payments.app import create_app
from shopfleet.payments.emulator import StripeEmulator
from shopfleet.payments.service import PaymentsService
from shopfleet.payments.settings import PaymentsSettings
from tests.support.http import bearer, shop_api
from tests.support.pubsub import RecordingPubSub
from tests.support.stripe import WebhookRecorder, listening_socket, running_emulator, served
from tests.support.tokens import TokenMint


@pytest.fixture(scope="session")
async def stripe_emulator(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[StripeEmulator]:
    async with running_emulator(tmp_path_factory.mktemp("stripe")) as emulator:
        yield emulator


class OrdersDouble:
    """Orders' ORDER_SUMMARY_PATH, answering from a dict the test fills."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], OrderSummary] = {}
        self.app = FastAPI()

        @self.app.get(ORDER_SUMMARY_PATH)
        async def summary(shop: str, order_id: str) -> OrderSummary:
            order = self.orders.get((shop, order_id))
            if order is None:
                raise HTTPException(404)
            return order

    def add(
        self,
        shop: str,
        user_id: str,
        *,
        amount: int = 1999,
        currency: str = "EUR",
        status: str = "pending_payment",
    ) -> str:
        order_id = str(uuid.uuid4())
        self.set(shop, order_id, user_id, amount=amount, currency=currency, status=status)
        return order_id

    def set(
        self, shop: str, order_id: str, user_id: str, *, amount: int, currency: str, status: str
    ) -> None:
        self.orders[(shop, order_id)] = OrderSummary(
            order_id=order_id,
            user_id=user_id,
            status=status,  # type: ignore[arg-type]
            total=Money(amount=amount, currency=currency),
            placed_at=datetime.now(UTC),
            expires_at=None,
        )


class Payments:
    """One running payments app as a test uses it."""

    def __init__(
        self,
        *,
        shop: str,
        http: httpx.AsyncClient,
        app: FastAPI,
        recorder: WebhookRecorder,
        pubsub: RecordingPubSub,
        orders: OrdersDouble,
        mint: TokenMint,
        blocks: Blocks,
    ) -> None:
        self.shop, self.http, self.app, self.recorder = shop, http, app, recorder
        self.pubsub, self.orders, self.mint, self.blocks = pubsub, orders, mint, blocks
        self.shopper = self.headers("shopper")
        self.admin = self.headers("boss", "Admin")

    @property
    def service(self) -> PaymentsService:
        return self.app.state.payments

    def headers(self, sub: str, role: str = "User") -> dict[str, str]:
        return bearer(self.mint.token(shop=self.shop, roles=[role], sub=sub))

    def api(self, path: str) -> str:
        return shop_api(self.shop, path)

    def order(self, user_id: str = "shopper", **kw: Any) -> str:
        return self.orders.add(self.shop, user_id, **kw)

    async def intent(
        self, order_id: str, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.http.post(
            self.api("/payments/intents"),
            json={"order_id": order_id, **body},
            headers=headers or self.shopper,
        )

    async def confirm(
        self, payment_id: str, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.http.post(
            self.api(f"/payments/{payment_id}/confirm"), json=body, headers=headers or self.shopper
        )

    async def get(self, payment_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(
            self.api(f"/payments/{payment_id}"), headers=headers or self.shopper
        )

    async def refund(self, payment_id: str, **body: Any) -> httpx.Response:
        return await self.http.post(
            self.api(f"/payments/{payment_id}/refunds"), json=body or None, headers=self.admin
        )

    async def paid(self, amount: int = 1999, currency: str = "EUR") -> dict[str, Any]:
        """A payment that succeeded (its order's intent confirmed with a good card)."""
        order_id = self.order(amount=amount, currency=currency)
        made = await self.intent(order_id, payment_method="pm_card_visa")
        assert made.status_code == 201, made.text
        confirmed = await self.confirm(made.json()["id"])
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "succeeded", confirmed.text
        return confirmed.json()

    async def status(self, payment_id: str) -> str:
        answer = await self.get(payment_id, self.admin)
        assert answer.status_code == 200, answer.text
        return answer.json()["status"]

    async def wait_status(self, payment_id: str, status: str, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (now := await self.status(payment_id)) != status:
            assert time.monotonic() < deadline, f"payment still {now}, not {status}"
            await asyncio.sleep(0.02)

    async def webhook(
        self, kind: str, object_id: str, timeout_s: float = 5.0
    ) -> tuple[bytes, str | None]:
        """The emulator's delivery of event `kind` about `object_id`, once it was answered."""
        deadline = time.monotonic() + timeout_s
        while True:
            for body, signature, status in self.recorder.deliveries:
                event = orjson.loads(body)
                if event["type"] == kind and event["data"]["object"]["id"] == object_id:
                    assert status == 200, status
                    return body, signature
            assert time.monotonic() < deadline, f"no {kind} webhook for {object_id}"
            await asyncio.sleep(0.02)

    async def settled(self) -> None:
        """Let the outbox relay publish what was committed."""
        await asyncio.sleep(0.15)

    def published(self, topic: str, **match: Any) -> list[CloudEvent]:
        return [
            e
            for e in self.pubsub.topics(topic)
            if e.shop == self.shop and all(e.data.get(k) == v for k, v in match.items())
        ]

    def cancelled(
        self, order_id: str, *, was_paid: bool, event_id: str | None = None
    ) -> CloudEvent:
        data = OrderCancelled(
            order_id=order_id,
            user_id="shopper",
            status="cancelled",
            cause="user",
            reason="changed my mind",
            was_paid=was_paid,
            lines=[],
            total=Money(amount=1999, currency="EUR"),
            cancelled_at=datetime.now(UTC),
        )
        return CloudEvent(
            id=event_id or str(uuid.uuid4()),
            topic=ORDER_CANCELLED,
            data=data.model_dump(mode="json"),
            shop=self.shop,
            source="orders",
        )

    async def stripe_intent(self, intent_id: str) -> Any:
        account = await self.app.state.stripe.account(self.shop)
        return await account.client.v1.payment_intents.retrieve_async(intent_id)

    async def stripe_client(self) -> Any:
        return (await self.app.state.stripe.account(self.shop)).client


StartPayments = Callable[..., Awaitable[Payments]]


@pytest.fixture
def shop() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def secrets_env() -> dict[str, str]:
    """The environment LocalSecrets reads: a test may give its shop a Stripe key here."""
    return {}


def give_stripe_key(env: dict[str, str], shop: str, key: str, webhook_secret: str) -> None:
    env[env_name(shop, "stripe_secret_key")] = key
    env[env_name(shop, "stripe_webhook_secret")] = webhook_secret


@pytest.fixture
async def start_payments(
    database_url_factory: Callable[[str], Awaitable[str]],
    data_dir: Path,
    tmp_path: Path,
    stripe_emulator: StripeEmulator,
    mint: TokenMint,
    shop: str,
    secrets_env: dict[str, str],
) -> AsyncIterator[StartPayments]:
    """Start payments apps (all on one database and one set of blocks) with changed settings."""
    database_url = await database_url_factory("payments")
    pubsub = RecordingPubSub(settle_s=0.05)
    orders = OrdersDouble()
    state = await LocalStateStore.open(tmp_path / "state.db")
    invoker = LocalInvoker()
    invoker.register("orders", orders.app)
    blocks = Blocks(
        state=state, pubsub=pubsub, invoker=invoker, secrets=LocalSecrets(environ=secrets_env)
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(state.close)

        async def start(**changes: Any) -> Payments:
            sock = listening_socket()
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            settings = PaymentsSettings(
                database_url=database_url,
                platform=PlatformSettings(data_dir=data_dir, access_log=False),
                stripe_emulator_url=stripe_emulator.url,
                webhook_base_url=url,
                reconcile_interval_s=0.1,
                reconcile_after_s=60,
            ).model_copy(update=changes)
            app = create_app(settings, blocks, verifier=mint.verifier())
            recorder = WebhookRecorder(app)
            await stack.enter_async_context(served(recorder, sock))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=20))
            return Payments(
                shop=shop,
                http=http,
                app=app,
                recorder=recorder,
                pubsub=pubsub,
                orders=orders,
                mint=mint,
                blocks=blocks,
            )

        yield start


@pytest.fixture
async def payments(start_payments: StartPayments) -> Payments:
    return await start_payments()
