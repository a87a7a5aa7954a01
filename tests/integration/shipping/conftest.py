"""A shipping app per test on a fresh database (SQLite or PostgreSQL), local blocks.

Identity is a stub answering a shop's settings (its currency) through the LocalInvoker.
Quotes price and weigh products with the real catalog app, started on its own database
(SQLite) and registered in the same LocalInvoker as "catalog" (only by the tests that need it).
Orders' events are delivered straight to shipping's subscription handlers (inbox and all)
by the recording pub/sub, which also keeps what shipping's outbox relay publishes.
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

from shopfleet.catalog.app import create_app as create_catalog
from shopfleet.catalog.settings import CatalogSettings
from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.contracts.events import (
    ORDER_CANCELLED,
    ORDER_PAID,
    OrderCancelled,
    OrderLinePayload,
    OrderPaid,
)
from shopfleet.kit.errors import NotFound, install_problem_handlers
from shopfleet.kit.money import Money
from shopfleet.kit.settings import PlatformSettings
from shopfleet.shipping.app import create_app
from shopfleet.shipping.settings import ShippingSettings
from tests.support.http import LocalBlocks, RunningApps, bearer, shop_api
from tests.support.problems import assert_problem
from tests.support.pubsub import RecordingPubSub
from tests.support.tokens import TokenMint

SHOP = "acme"
OTHER_SHOP = "bolt"
SHOPS = {SHOP: "EUR", OTHER_SHOP: "USD"}
PID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def identity_stub() -> FastAPI:
    """Identity as shipping (and catalog) see it: a shop's settings by invocation."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/internal/shops/{shop}/settings")
    async def settings(shop: str) -> dict[str, str]:
        if shop not in SHOPS:
            raise NotFound(f"Shop '{shop}' does not exist.")
        return {"shop": shop, "display_name": f"Shop {shop}", "currency": SHOPS[shop]}

    return app


@pytest.fixture
def pubsub() -> RecordingPubSub:
    return RecordingPubSub(settle_s=0.05)


@pytest.fixture
async def blocks(tmp_path: Path, pubsub: RecordingPubSub) -> AsyncIterator[Blocks]:
    async with LocalBlocks(tmp_path, pubsub) as blocks:
        assert isinstance(blocks.invoker, LocalInvoker)
        blocks.invoker.register("identity", identity_stub())
        yield blocks


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> ShippingSettings:
    return ShippingSettings(
        database_url=await database_url_factory("shipping"),
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )


def api(path: str, shop: str = SHOP) -> str:
    return shop_api(shop, path)


def address(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Ada Lovelace",
        "line1": "Hauptstraße 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    } | changes


STANDARD = {
    "id": "standard",
    "name": "Standard",
    "carrier": "DHL",
    "base_amount": 490,
    "per_kg_amount": 100,
    "per_item_amount": 0,
    "free_above_amount": 5000,
    "estimated_days_min": 2,
    "estimated_days_max": 5,
}


class ShippingApi:
    """The shipping API as a test uses it: `http` for raw calls, helpers for set-up steps."""

    SHOP = SHOP
    OTHER_SHOP = OTHER_SHOP
    api = staticmethod(api)
    address = staticmethod(address)
    assert_problem = staticmethod(assert_problem)

    def __init__(
        self, app: FastAPI, http: httpx.AsyncClient, mint: TokenMint, pubsub: RecordingPubSub
    ) -> None:
        self.app, self.http, self.mint, self.pubsub = app, http, mint, pubsub
        self.admin = self.headers("admin-1", "Admin")
        self.ada = self.headers("user-ada")
        self.bob = self.headers("user-bob")

    def headers(self, user: str, role: str = "User", shop: str = SHOP) -> dict[str, str]:
        return bearer(self.mint.token(shop=shop, roles=[role], sub=user))

    async def method(self, shop: str = SHOP, **fields: Any) -> dict[str, Any]:
        headers = self.admin if shop == SHOP else self.headers(f"admin-{shop}", "Admin", shop)
        answer = await self.http.post(
            api("/shipping/methods", shop), json=STANDARD | fields, headers=headers
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def save_address(self, user: dict[str, str], **fields: Any) -> dict[str, Any]:
        answer = await self.http.post(
            api("/shipping/addresses"), json=address(**fields), headers=user
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    # ------------------------------------------------------------------------- orders' events

    @staticmethod
    def order_paid(
        order_id: str | None = None,
        *,
        user: str = "user-ada",
        method: str = "standard",
        shop: str = SHOP,
        event_id: str | None = None,
        **address_fields: Any,
    ) -> CloudEvent:
        data = OrderPaid(
            order_id=order_id or uuid.uuid4().hex,
            user_id=user,
            payment_id="pay-1",
            total=Money(amount=2980, currency="EUR"),
            shipping_method_id=method,
            shipping_address=address(**address_fields),  # type: ignore[arg-type]
            lines=[
                OrderLinePayload(
                    product_id=PID,
                    name="Stoneware Mug",
                    sku="MUG-1",
                    quantity=2,
                    unit_price=Money(amount=1490, currency="EUR"),
                )
            ],
            paid_at=datetime.now(UTC),
        )
        return CloudEvent(
            id=event_id or str(uuid.uuid4()),
            topic=ORDER_PAID,
            data=data.model_dump(mode="json"),
            shop=shop,
            source="orders",
        )

    @staticmethod
    def order_cancelled(
        order_id: str, *, user: str = "user-ada", shop: str = SHOP, was_paid: bool = True
    ) -> CloudEvent:
        data = OrderCancelled(
            order_id=order_id,
            user_id=user,
            status="cancelled",
            cause="user",
            reason="changed my mind",
            was_paid=was_paid,
            lines=[],
            total=Money(amount=2980, currency="EUR"),
            cancelled_at=datetime.now(UTC),
        )
        return CloudEvent(
            id=str(uuid.uuid4()),
            topic=ORDER_CANCELLED,
            data=data.model_dump(mode="json"),
            shop=shop,
            source="orders",
        )

    async def deliver(self, event: CloudEvent) -> Delivery:
        return await self.pubsub.deliver(event)

    async def shipments(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        answer = await self.http.get(api("/shipments"), params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    async def paid_shipment(self, **kw: Any) -> dict[str, Any]:
        """An order paid, its shipment made: the shipment as its admin reads it."""
        event = self.order_paid(**kw)
        assert await self.deliver(event) == Delivery.SUCCESS
        [shipment] = await self.shipments(self.admin, order_id=event.data["order_id"])
        return shipment


AppFactory = Callable[..., Awaitable[ShippingApi]]


@pytest.fixture
async def apps() -> AsyncIterator[RunningApps]:
    async with RunningApps("http://shipping") as running:
        yield running


@pytest.fixture
async def start_shipping(
    settings: ShippingSettings,
    blocks: Blocks,
    pubsub: RecordingPubSub,
    mint: TokenMint,
    apps: RunningApps,
) -> AppFactory:
    """Start a shipping app (optionally with changed settings)."""

    async def start(**changes: Any) -> ShippingApi:
        app = create_app(settings.model_copy(update=changes), blocks, verifier=mint.verifier())
        return ShippingApi(app, await apps.start(app), mint, pubsub)

    return start


@pytest.fixture
async def shipping(start_shipping: AppFactory) -> ShippingApi:
    return await start_shipping()


class CatalogApi:
    """The real catalog, as an admin stocks it for quotes."""

    def __init__(self, http: httpx.AsyncClient, mint: TokenMint) -> None:
        self.http = http
        self.admin = bearer(mint.token(shop=SHOP, roles=["Admin"], sub="admin-1"))

    async def product(self, price: int, weight_grams: int, **fields: Any) -> str:
        n = uuid.uuid4().hex[:8]
        body = {
            "name": f"Product {n}",
            "sku": f"SKU-{n}",
            "price": {"amount": price},
            "weight_grams": weight_grams,
            "on_hand": 10,
        } | fields
        answer = await self.http.post(api("/products"), json=body, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]


@pytest.fixture
async def catalog(
    tmp_path: Path, data_dir: Path, blocks: Blocks, mint: TokenMint, apps: RunningApps
) -> CatalogApi:
    """The real catalog app, reachable by invocation as "catalog". Its database is SQLite
    whatever shipping's backend (catalog's own tests cover it on both; a PostgreSQL
    database of catalog's costs seconds to drop at the end of a run)."""
    settings = CatalogSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}",
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )
    # Its own recording pub/sub: its events and subscriptions are not shipping's.
    catalog_blocks = Blocks(
        state=blocks.state,
        pubsub=RecordingPubSub(),
        invoker=blocks.invoker,
        secrets=blocks.secrets,
    )
    app = create_catalog(settings, catalog_blocks, verifier=mint.verifier())
    http = await apps.start(app)
    assert isinstance(blocks.invoker, LocalInvoker)
    blocks.invoker.register("catalog", app)
    return CatalogApi(http, mint)
