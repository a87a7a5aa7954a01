"""A notifications app per test on a fresh database (SQLite or PostgreSQL), local blocks.

Pub/sub is the recording double: a test delivers orders', payments', shipping's and
identity's events to the app's real handlers (inbox and all), as the broker would. The
delivery worker does not run on its own here: a test runs its rounds (`send_due`) and
moves the clock (`clock.advance`) to let back-off pass. SMTP tests use a real `aiosmtpd`
server (smtp.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.settings import PlatformSettings
from shopfleet.notifications.app import create_app
from shopfleet.notifications.senders import Sender
from shopfleet.notifications.settings import NotificationsSettings
from tests.support.clock import FakeClock
from tests.support.http import RunningApps, bearer, shop_api
from tests.support.problems import assert_problem
from tests.support.pubsub import RecordingPubSub
from tests.support.tokens import TokenMint

SHOP = "acme"
OTHER_SHOP = "globex"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> NotificationsSettings:
    return NotificationsSettings(
        database_url=await database_url_factory("notifications"),
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
        worker_enabled=False,
        max_attempts=4,
        backoff_s=60,
        max_backoff_s=3600,
    )


# ----------------------------------------------------------------------------- events


def _money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _lines() -> list[dict[str, Any]]:
    return [
        {
            "product_id": str(uuid.uuid4()),
            "name": "Mug",
            "sku": "MUG-1",
            "quantity": 2,
            "unit_price": _money(1250),
        },
    ]


class Events:
    """Each topic's payload as its owner would publish it, for one order."""

    def __init__(self, user: str, order_id: str | None = None) -> None:
        self.user = user
        self.order_id = order_id or str(uuid.uuid4())
        self.shipment_id = str(uuid.uuid4())
        self.payment_id = str(uuid.uuid4())

    def _common(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "user_id": self.user}

    def placed(self) -> dict[str, Any]:
        return self._common() | {
            "lines": _lines(),
            "subtotal": _money(2500),
            "shipping": _money(490),
            "total": _money(2990),
            "shipping_method_id": "standard",
            "placed_at": _now(),
        }

    def paid(self) -> dict[str, Any]:
        address = {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        }
        return self._common() | {
            "payment_id": self.payment_id,
            "total": _money(2990),
            "shipping_method_id": "standard",
            "shipping_address": address,
            "lines": _lines(),
            "paid_at": _now(),
        }

    def cancelled(
        self, *, status: str = "cancelled", cause: str = "user", was_paid: bool = False
    ) -> dict[str, Any]:
        return self._common() | {
            "status": status,
            "cause": cause,
            "reason": "Out of stock",
            "was_paid": was_paid,
            "lines": _lines(),
            "total": _money(2990),
            "cancelled_at": _now(),
        }

    def payment_failed(self) -> dict[str, Any]:
        return self._common() | {
            "payment_id": self.payment_id,
            "amount": _money(2990),
            "code": "card_declined",
            "message": "Your card was declined.",
            "failed_at": _now(),
        }

    def refunded(self, amount: int = 2990, *, full: bool = True) -> dict[str, Any]:
        return self._common() | {
            "payment_id": self.payment_id,
            "refund_id": str(uuid.uuid4()),
            "amount": _money(amount),
            "refunded_total": _money(amount),
            "full": full,
            "refunded_at": _now(),
        }

    def shipment_created(self) -> dict[str, Any]:
        return self._common() | {
            "shipment_id": self.shipment_id,
            "method_id": "standard",
            "created_at": _now(),
        }

    def shipment_status(self, status: str, previous: str) -> dict[str, Any]:
        return self._common() | {
            "shipment_id": self.shipment_id,
            "status": status,
            "previous": previous,
            "carrier": "DHL",
            "tracking_number": "JD0123",
            "changed_at": _now(),
        }


# ----------------------------------------------------------------------------- the API


class NotificationsApi:
    """The notifications API as a test uses it."""

    SHOP = SHOP
    assert_problem = staticmethod(assert_problem)

    def __init__(
        self,
        app: FastAPI,
        http: httpx.AsyncClient,
        mint: TokenMint,
        pubsub: RecordingPubSub,
        clock: FakeClock,
    ) -> None:
        self.app, self.http, self.mint, self.pubsub, self.clock = app, http, mint, pubsub, clock

    def headers(self, user: str, *, shop: str = SHOP, admin: bool = False) -> dict[str, str]:
        roles = ["Admin"] if admin else ["User"]
        return bearer(self.mint.token(shop=shop, roles=roles, sub=user))

    async def deliver(
        self, topic: str, data: dict[str, Any], *, shop: str = SHOP, event_id: str | None = None
    ) -> Delivery:
        event = CloudEvent(
            id=event_id or str(uuid.uuid4()), topic=topic, data=data, shop=shop, source="test"
        )
        return await self.pubsub.deliver(event)

    async def register(self, user: str, email: str, name: str = "Ada", shop: str = SHOP) -> None:
        data = {
            "user_id": user,
            "email": email,
            "display_name": name,
            "roles": ["User"],
            "registered_at": _now(),
        }
        assert await self.deliver(ev.USER_REGISTERED, data, shop=shop) == Delivery.SUCCESS

    async def list(
        self, who: str, *, shop: str = SHOP, admin: bool = False, **params: Any
    ) -> httpx.Response:
        """GET /notifications as user `who` (query `params`, e.g. `user=` for admins)."""
        return await self.http.get(
            shop_api(shop, "/notifications"),
            params=params,
            headers=self.headers(who, shop=shop, admin=admin),
        )

    async def items(self, who: str, **params: Any) -> list[dict[str, Any]]:
        answer = await self.list(who, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    async def read(self, user: str, notification_id: str, *, shop: str = SHOP) -> httpx.Response:
        return await self.http.post(
            shop_api(shop, f"/notifications/{notification_id}/read"),
            headers=self.headers(user, shop=shop),
        )

    async def send_due(self) -> int:
        """One round of the delivery worker."""
        return await self.app.state.deliveries.run_once()


AppFactory = Callable[..., Awaitable[NotificationsApi]]


@pytest.fixture
async def start_notifications(
    settings: NotificationsSettings,
    blocks: Blocks,
    mint: TokenMint,
    pubsub: RecordingPubSub,
    clock: FakeClock,
) -> AsyncIterator[AppFactory]:
    """Start an app with a sender and changed settings (validated); all stop at the end."""
    async with RunningApps("http://notifications") as apps:

        async def start(using: Sender | None = None, **changes: Any) -> NotificationsApi:
            """`using`: this sender instead of the one the settings name."""
            changed = NotificationsSettings(**(dict(settings) | changes))  # validated
            app = create_app(
                changed,
                blocks,
                verifier=mint.verifier(),
                sender=using,
                clock=clock,
            )
            return NotificationsApi(app, await apps.start(app), mint, pubsub, clock)

        yield start


@pytest.fixture
async def notifications(start_notifications: AppFactory) -> NotificationsApi:
    return await start_notifications()


def new_user() -> str:
    return str(uuid.uuid4())
