"""An orders app per test on a fresh database (SQLite or PostgreSQL), next to the REAL
catalog app (its own fresh database, same backend) and small doubles of cart and shipping.

The doubles of cart and shipping serve exactly the contract paths of `kit.contracts.cart`
/ `kit.contracts.shipping` from in-memory dicts a test
changes, and can be taken down (unregistered from the LocalInvoker). Identity is a stub
answering catalog's shop-settings call. Payment and shipment events are delivered straight
to the orders app's subscription handlers (inbox and all); what the outbox relays publish
is recorded. One clock (real time plus an offset a test moves) drives the orders app.
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
from shopfleet.kit.blocks import Blocks, Delivery, new_event_id
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLine, CartLines
from shopfleet.kit.contracts.shipping import ADDRESS_PATH, QUOTE_PATH, Address, Quote, QuoteRequest
from shopfleet.kit.errors import NotFound, Problem, install_problem_handlers
from shopfleet.kit.money import Money
from shopfleet.kit.settings import PlatformSettings
from shopfleet.orders.app import create_app
from shopfleet.orders.service import Orders
from shopfleet.orders.settings import OrdersSettings
from tests.support.clock import FakeClock
from tests.support.http import RunningApps, bearer, shop_api
from tests.support.pubsub import RecordingPubSub
from tests.support.tokens import TokenMint

SHOP = "acme"
OTHER_SHOP = "bolt"
SHOPS = {SHOP: "EUR", OTHER_SHOP: "EUR"}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
FRENCH_ADDRESS = ADDRESS | {"city": "Paris", "postal_code": "75001", "country": "FR"}


# ----------------------------------------------------------------------------- doubles


def identity_stub() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/internal/shops/{shop}/settings")
    async def settings(shop: str) -> dict[str, str]:
        if shop not in SHOPS:
            raise NotFound(f"Shop '{shop}' does not exist.")
        return {"shop": shop, "display_name": f"Shop {shop}", "currency": SHOPS[shop]}

    return app


class FakeCart:
    """Cart's internal contract: each shopper's lines, from `carts[(shop, user)]`."""

    def __init__(self) -> None:
        self.carts: dict[tuple[str, str], dict[str, int]] = {}
        self.versions: dict[tuple[str, str], int] = {}  # the ETag: bumped by each fill
        self.changing = False  # True: every read sees a new version (a cart being edited)
        self.reads = 0
        self.app = FastAPI()

        @self.app.get(CART_LINES_PATH)
        async def lines(shop: str, user_id: str) -> CartLines:
            self.reads += 1
            held = self.carts.get((shop, user_id), {})
            if self.changing:
                self.versions[(shop, user_id)] = self.versions.get((shop, user_id), 0) + 1
            version = self.versions.get((shop, user_id))
            return CartLines(
                user_id=user_id,
                lines=[CartLine(product_id=pid, quantity=qty) for pid, qty in held.items()],
                version=None if version is None else str(version),
            )

    def fill(self, shop: str, user_id: str, lines: dict[str, int]) -> None:
        """A write to the cart: new lines, a new version."""
        self.carts[(shop, user_id)] = dict(lines)
        self.versions[(shop, user_id)] = self.versions.get((shop, user_id), 0) + 1


class FakeShipping:
    """Shipping's internal contract: saved addresses and quotes.

    Methods: `standard` (4.90 + 1.00 per unit, GB and FR), `express` (12.00, GB only).
    """

    METHODS = {
        "standard": ("Standard", "Royal Mail", 490, 100, {"GB", "FR"}),
        "express": ("Express", "DHL", 1200, 0, {"GB"}),
    }

    def __init__(self) -> None:
        self.addresses: dict[tuple[str, str, str], Address] = {}
        self.quotes: list[QuoteRequest] = []
        self.app = FastAPI()
        install_problem_handlers(self.app)

        @self.app.get(ADDRESS_PATH)
        async def address(shop: str, user_id: str, address_id: str) -> Address:
            found = self.addresses.get((shop, user_id, address_id))
            if found is None:
                raise NotFound("No such address.")
            return found

        @self.app.post(QUOTE_PATH)
        async def quote(shop: str, body: QuoteRequest) -> Quote:
            self.quotes.append(body)
            if body.method_id not in self.METHODS:
                raise NotFound(f"No shipping method '{body.method_id}'.")
            name, carrier, base, per_unit, countries = self.METHODS[body.method_id]
            if body.address.country not in countries:
                raise Problem(422, f"{name} does not ship to {body.address.country}.")
            currency = body.lines[0].unit_price.currency
            units = sum(line.quantity for line in body.lines)
            subtotal = sum(line.unit_price.amount * line.quantity for line in body.lines)
            return Quote(
                method_id=body.method_id,
                method_name=name,
                carrier=carrier,
                cost=Money(amount=base + per_unit * units, currency=currency),
                subtotal=Money(amount=subtotal, currency=currency),
                weight_grams=sum(line.weight_grams * line.quantity for line in body.lines),
                estimated_days_min=1,
                estimated_days_max=3,
            )

    def save(self, user: str, address: dict[str, Any], shop: str = SHOP) -> str:
        address_id = uuid.uuid4().hex[:12]
        self.addresses[(shop, user, address_id)] = Address.model_validate(address)
        return address_id


def shipping_cost(method: str, units: int) -> int:
    _, _, base, per_unit, _ = FakeShipping.METHODS[method]
    return base + per_unit * units


# ----------------------------------------------------------------------------- the checkout


class Checkout:
    """The orders API as shoppers and admins use it, with catalog set-up and event helpers."""

    def __init__(
        self,
        *,
        orders: httpx.AsyncClient,
        catalog: httpx.AsyncClient,
        app: FastAPI,
        mint: TokenMint,
        pubsub: RecordingPubSub,
        cart: FakeCart,
        shipping: FakeShipping,
        invoker: LocalInvoker,
        clock: FakeClock,
    ) -> None:
        self.http, self.catalog_http, self.app, self.mint = orders, catalog, app, mint
        self.pubsub, self.cart, self.shipping = pubsub, cart, shipping
        self.invoker, self.clock = invoker, clock
        self.admin = bearer(mint.token(shop=SHOP, roles=["Admin"], sub="admin-1"))

    @property
    def service(self) -> Orders:
        return self.app.state.orders

    def user(self, sub: str | None = None, shop: str = SHOP) -> dict[str, str]:
        return bearer(self.mint.token(shop=shop, roles=["User"], sub=sub or new_user()))

    # catalog --------------------------------------------------------------------------

    async def product(self, *, price: int = 1000, stock: int = 10, name: str | None = None) -> str:
        n = new_event_id()[:8]
        body = {
            "name": name or f"Product {n}",
            "sku": f"SKU-{n}",
            "price": {"amount": price},
            "on_hand": stock,
        }
        response = await self.catalog_http.post(
            shop_api(SHOP, "/products"), headers=self.admin, json=body
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def stock(self, product_id: str) -> dict[str, int]:
        """on_hand / reserved / available, as catalog's admin view shows them."""
        response = await self.catalog_http.get(
            shop_api(SHOP, f"/products/{product_id}"), headers=self.admin
        )
        assert response.status_code == 200, response.text
        return response.json()["stock"]

    async def catalog_admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = await self.catalog_http.request(
            method, shop_api(SHOP, path), headers=self.admin, **kw
        )
        assert response.status_code < 300, response.text
        return response

    # orders ---------------------------------------------------------------------------

    def fill(self, who: dict[str, str], lines: dict[str, int], shop: str = SHOP) -> None:
        self.cart.fill(shop, self.sub(who), lines)

    @staticmethod
    def shipping_address() -> dict[str, Any]:
        return dict(ADDRESS)

    def sub(self, who: dict[str, str]) -> str:
        import jwt

        token = who["Authorization"].removeprefix("Bearer ")
        return jwt.decode(token, options={"verify_signature": False})["sub"]

    async def place(
        self,
        who: dict[str, str],
        *,
        method: str = "standard",
        address: dict[str, Any] | None = None,
        address_id: str | None = None,
        key: str | None = None,
        shop: str = SHOP,
    ) -> httpx.Response:
        body: dict[str, Any] = {"shipping_method": method}
        if address_id is not None:
            body["shipping_address_id"] = address_id
        else:
            body["shipping_address"] = address or ADDRESS
        headers = dict(who) | ({"Idempotency-Key": key} if key else {})
        return await self.http.post(shop_api(shop, "/orders"), headers=headers, json=body)

    async def placed(self, who: dict[str, str], lines: dict[str, int], **kw: Any) -> dict:
        self.fill(who, lines)
        response = await self.place(who, **kw)
        assert response.status_code == 201, response.text
        return response.json()

    async def get(self, who: dict[str, str], order_id: str, shop: str = SHOP) -> httpx.Response:
        return await self.http.get(shop_api(shop, f"/orders/{order_id}"), headers=who)

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.get(self.admin, order_id)
        assert response.status_code == 200, response.text
        return response.json()

    async def cancel(
        self, who: dict[str, str], order_id: str, reason: str | None = None
    ) -> httpx.Response:
        kw: dict[str, Any] = {"json": {"reason": reason}} if reason else {}
        return await self.http.post(shop_api(SHOP, f"/orders/{order_id}/cancel"), headers=who, **kw)

    # events ---------------------------------------------------------------------------

    async def deliver(
        self, topic: str, data: dict[str, Any], *, event_id: str | None = None
    ) -> Delivery:
        return await self.pubsub.deliver(topic, data, shop=SHOP, event_id=event_id)

    async def paid(
        self, order: dict[str, Any], *, payment_id: str = "pay-1", event_id: str | None = None
    ) -> Delivery:
        return await self.deliver(
            "payment.succeeded", payment_succeeded(order, payment_id), event_id=event_id
        )

    async def relayed(self, topic: str, order_id: str) -> list[dict[str, Any]]:
        """Events of `topic` about `order_id` the outbox relay has published so far."""
        await self.pubsub.wait_for(topic, order_id=order_id)
        return [e.data for e in self.pubsub.topics(topic) if e.data.get("order_id") == order_id]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def payment_succeeded(order: dict[str, Any], payment_id: str = "pay-1") -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "order_id": order["id"],
        "user_id": order["user_id"],
        "amount": order["total"],
        "provider_ref": f"pi_{payment_id}",
        "succeeded_at": now_iso(),
    }


def payment_failed(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": "pay-f",
        "order_id": order["id"],
        "user_id": order["user_id"],
        "amount": order["total"],
        "code": "card_declined",
        "message": "Your card was declined.",
        "failed_at": now_iso(),
    }


def payment_refunded(order: dict[str, Any], amount: int, total: int, full: bool) -> dict:
    currency = order["total"]["currency"]
    return {
        "payment_id": "pay-1",
        "order_id": order["id"],
        "user_id": order["user_id"],
        "refund_id": f"re-{uuid.uuid4().hex[:6]}",
        "amount": {"amount": amount, "currency": currency},
        "refunded_total": {"amount": total, "currency": currency},
        "full": full,
        "refunded_at": now_iso(),
    }


def shipment(order: dict[str, Any], status: str | None = None, previous: str = "pending") -> dict:
    data = {"shipment_id": "shp-1", "order_id": order["id"], "user_id": order["user_id"]}
    if status is None:
        return data | {"method_id": "standard", "created_at": now_iso()}
    return data | {
        "status": status,
        "previous": previous,
        "carrier": "DHL",
        "tracking_number": "JD0001",
        "changed_at": now_iso(),
    }


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> OrdersSettings:
    return OrdersSettings(
        database_url=await database_url_factory("orders"),
        sweep_interval_s=3600,  # tests sweep by hand
        max_unpaid_orders=50,  # tests place many orders per shopper (test_limits: the cap)
        call_timeout_s=5,
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )


@pytest.fixture
async def checkout(
    settings: OrdersSettings,
    tmp_path: Path,
    data_dir: Path,
    blocks: Blocks,
    pubsub: RecordingPubSub,
    mint: TokenMint,
    clock: FakeClock,
) -> AsyncIterator[Checkout]:
    invoker = blocks.invoker
    assert isinstance(invoker, LocalInvoker)
    cart, shipping = FakeCart(), FakeShipping()
    invoker.register("identity", identity_stub())
    invoker.register("cart", cart.app)
    invoker.register("shipping", shipping.app)
    catalog_settings = CatalogSettings(  # catalog's own tests cover it on PostgreSQL
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}",
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )
    async with RunningApps("http://test") as apps:
        catalog_app = create_catalog(catalog_settings, blocks, verifier=mint.verifier())
        catalog_http = await apps.start(catalog_app)
        invoker.register("catalog", catalog_app)
        app = create_app(settings, blocks, verifier=mint.verifier(), clock=clock)
        orders_http = await apps.start(app)
        invoker.register("orders", app)
        yield Checkout(
            orders=orders_http,
            catalog=catalog_http,
            app=app,
            mint=mint,
            pubsub=pubsub,
            cart=cart,
            shipping=shipping,
            invoker=invoker,
            clock=clock,
        )
