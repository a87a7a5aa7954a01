"""A cart app per test on a real StateStore (local SQLite, and Redis), with a fake catalog.

The fake catalog is a small FastAPI app registered in the LocalInvoker as "catalog": it
answers the lookup contract from an in-memory dict a test changes (prices, stock,
deletion), and can be taken down. Tokens come from the `mint` fixture. One clock (real
time plus an offset a test moves) drives the state store's TTLs and the cart's stamps.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Response

from shopfleet.cart.app import create_app
from shopfleet.cart.settings import CartSettings
from shopfleet.kit.auth import SHOP_API_PREFIX
from shopfleet.kit.blocks import Blocks, CloudEvent, PubSub, StateStore, Subscription
from shopfleet.kit.blocks.local import LocalSecrets, LocalStateStore
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.blocks.redis_state import RedisStateStore
from shopfleet.kit.contracts.catalog import (
    LOOKUP_PATH,
    ProductLookup,
    ProductLookupResult,
    ProductSnapshot,
)
from shopfleet.kit.money import Money
from shopfleet.kit.settings import PlatformSettings
from tests.conftest import require_service
from tests.support.clock import FakeClock
from tests.support.redis import (
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    drop_redis_keys,
    redis_test_prefix,
)
from tests.support.tokens import TokenMint

SHOP = "demo"
OTHER_SHOP = "acme"


class NoPubSub(PubSub):
    """The cart publishes nothing; it keeps the subscriptions the app declares (orders'
    events), so a test can deliver events to the real handlers (test_checkout_hooks.py)."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}

    async def publish(self, event: CloudEvent) -> None:
        raise AssertionError(f"the cart published {event}")

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions[subscription.topic] = subscription


# ----------------------------------------------------------------------------- catalog


class FakeCatalog:
    """Catalog's lookup contract over an in-memory dict: `products[(shop, id)]`."""

    def __init__(self) -> None:
        self.products: dict[tuple[str, str], ProductSnapshot] = {}
        self.lookups: list[tuple[str, list[str]]] = []
        self.status = 200  # anything else: catalog answers that (e.g. 500)
        self.app = FastAPI()

        @self.app.post(LOOKUP_PATH)
        async def lookup(shop: str, body: ProductLookup, response: Response) -> Any:
            self.lookups.append((shop, body.ids))
            if self.status != 200:
                response.status_code = self.status
                return {"detail": "broken on purpose"}
            items = [self.products[(shop, pid)] for pid in body.ids if (shop, pid) in self.products]
            known = {item.id for item in items}
            return ProductLookupResult(
                items=items, missing=[pid for pid in body.ids if pid not in known]
            )

    def add(
        self,
        name: str,
        *,
        price: int = 1000,
        available: int = 100,
        shop: str = SHOP,
        active: bool = True,
    ) -> str:
        product_id = str(uuid.uuid4())
        self.products[(shop, product_id)] = ProductSnapshot(
            id=product_id,
            name=name,
            slug=name.lower().replace(" ", "-"),
            sku=f"SKU-{product_id[:8]}",
            price=Money(amount=price, currency="EUR"),
            available=available,
            active=active,
        )
        return product_id

    def change(self, product_id: str, shop: str = SHOP, **fields: Any) -> None:
        old = self.products[(shop, product_id)]
        if "price" in fields:
            fields["price"] = Money(amount=fields["price"], currency="EUR")
        self.products[(shop, product_id)] = old.model_copy(update=fields)

    def delete(self, product_id: str, shop: str = SHOP) -> None:
        del self.products[(shop, product_id)]


# ----------------------------------------------------------------------------- state


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "redis"])
async def state(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[StateStore]:
    """Every cart test runs on each StateStore adapter, with the test's clock for TTLs."""
    if request.param == "local":
        local = await LocalStateStore.open(tmp_path / "state.db", clock=clock)
        yield local
        await local.close()
    else:
        require_service("Redis", REDIS_HOST, REDIS_PORT)
        store = RedisStateStore(REDIS_URL, key_prefix=redis_test_prefix(), clock=clock)
        try:
            await store.open()
            yield store
        finally:
            await store.close()
            await drop_redis_keys(store.key_pattern)


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
def blocks(state: StateStore, catalog: FakeCatalog) -> Blocks:
    invoker = LocalInvoker(default_timeout_s=5)
    invoker.register("catalog", catalog.app)
    return Blocks(state=state, pubsub=NoPubSub(), invoker=invoker, secrets=LocalSecrets())


@pytest.fixture
def settings(data_dir: Path) -> CartSettings:
    return CartSettings(platform=PlatformSettings(data_dir=data_dir, access_log=False))


@pytest.fixture
async def cart_app(
    settings: CartSettings, blocks: Blocks, mint: TokenMint, clock: FakeClock
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, blocks, verifier=mint.verifier(), clock=clock)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        yield app


# ----------------------------------------------------------------------------- client


class CartClient:
    """The cart API as one shopper (or one browser tab) uses it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        shop: str = SHOP,
        token: str | None = None,
        cart_id: str | None = None,
    ) -> None:
        self.http, self.shop, self.token, self.cart_id = http, shop, token, cart_id
        self.etag: str | None = None

    def url(self, path: str) -> str:
        return SHOP_API_PREFIX.replace("{shop}", self.shop) + path

    def headers(self, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cart_id:
            headers["X-Cart-Id"] = self.cart_id
        return headers

    async def call(
        self, method: str, path: str, *, keep_id: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        response = await self.http.request(method, self.url(path), headers=headers, **kwargs)
        if response.status_code == 200:
            self.etag = response.headers.get("etag", self.etag)
            if keep_id and response.headers.get("x-cart-id"):
                self.cart_id = response.headers["x-cart-id"]
        return response

    async def get(self, **kw: Any) -> httpx.Response:
        return await self.call("GET", "/cart", **kw)

    async def add(self, product_id: str, quantity: int = 1, **kw: Any) -> httpx.Response:
        body = {"product_id": product_id, "quantity": quantity}
        return await self.call("POST", "/cart/items", json=body, **kw)

    async def set(self, product_id: str, quantity: int, **kw: Any) -> httpx.Response:
        return await self.call(
            "PATCH", f"/cart/items/{product_id}", json={"quantity": quantity}, **kw
        )

    async def remove(self, product_id: str, **kw: Any) -> httpx.Response:
        return await self.call("DELETE", f"/cart/items/{product_id}", **kw)

    async def clear(self, **kw: Any) -> httpx.Response:
        return await self.call("DELETE", "/cart", **kw)

    async def removed(self, **kw: Any) -> httpx.Response:
        return await self.call("GET", "/cart/removed", **kw)

    async def restore(self, body: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        if body is None:
            return await self.call("POST", "/cart/restore", **kw)
        return await self.call("POST", "/cart/restore", json=body, **kw)

    async def quantities(self) -> dict[str, int]:
        response = await self.get()
        assert response.status_code == 200, response.text
        return {line["product_id"]: line["quantity"] for line in response.json()["lines"]}


@pytest.fixture
async def http(cart_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cart_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cart") as client:
        yield client


@pytest.fixture
def tab(http: httpx.AsyncClient, mint: TokenMint) -> Callable[..., CartClient]:
    """`tab()`: an anonymous browser tab; `tab(user=...)`: a signed-in one. `token_shop`
    signs the token for another shop than the one the tab talks to."""

    def make(
        *,
        user: str | None = None,
        shop: str = SHOP,
        token_shop: str | None = None,
        cart_id: str | None = None,
    ) -> CartClient:
        token = mint.token(shop=token_shop or shop, sub=user) if user else None
        return CartClient(http, shop=shop, token=token, cart_id=cart_id)

    return make


@pytest.fixture
async def replica_tab(
    settings: CartSettings, blocks: Blocks, mint: TokenMint, clock: FakeClock
) -> AsyncIterator[Callable[..., CartClient]]:
    """Like `tab`, but on a second replica of the cart app (same state store): its writes
    race with the first replica's on ETags, as two pods' would."""
    app = create_app(settings, blocks, verifier=mint.verifier(), clock=clock)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cart-2") as http,
    ):

        def make(*, user: str | None = None, cart_id: str | None = None) -> CartClient:
            token = mint.token(shop=SHOP, sub=user) if user else None
            return CartClient(http, token=token, cart_id=cart_id)

        yield make


def user_id() -> str:
    return str(uuid.uuid4())
