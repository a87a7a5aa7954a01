"""A categories app per test on a fresh database (SQLite or PostgreSQL), local blocks.

Pub/sub is the recording double of tests.support.pubsub: it keeps what the outbox relay
publishes, and it keeps the subscriptions the app declares so a test can deliver catalog's
events to the app's real handlers (inbox and all), as the broker would: again, late, or out
of order.
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

from shopfleet.categories.app import create_app
from shopfleet.categories.settings import CategoriesSettings
from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery
from shopfleet.kit.contracts.events import (
    PRODUCT_DELETED,
    PRODUCT_UPDATED,
    ProductDeleted,
    ProductUpdated,
)
from shopfleet.kit.settings import PlatformSettings
from tests.support.http import RunningApps, bearer, shop_api
from tests.support.problems import assert_problem
from tests.support.pubsub import RecordingPubSub
from tests.support.tokens import TokenMint

SHOP = "acme"
OTHER_SHOP = "globex"


@pytest.fixture
def pubsub() -> RecordingPubSub:
    return RecordingPubSub(settle_s=0.05)


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> CategoriesSettings:
    return CategoriesSettings(
        database_url=await database_url_factory("categories"),
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )


AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def start_app(
    settings: CategoriesSettings, blocks: Blocks, mint: TokenMint
) -> AsyncIterator[AppFactory]:
    """Start a categories app (optionally with changed settings); all stop at the end."""
    async with RunningApps("http://categories") as apps:

        async def start(
            app_blocks: Blocks | None = None, **changes: Any
        ) -> tuple[FastAPI, httpx.AsyncClient]:
            app = create_app(
                settings.model_copy(update=changes), app_blocks or blocks, verifier=mint.verifier()
            )
            return app, await apps.start(app)

        yield start


# ----------------------------------------------------------------------------- helpers


def api(path: str, shop: str = SHOP) -> str:
    return shop_api(shop, path)


class CategoriesApi:
    """The categories API as a test uses it: `http` for raw calls, helpers for set-up."""

    SHOP = SHOP
    OTHER_SHOP = OTHER_SHOP
    api = staticmethod(api)
    assert_problem = staticmethod(assert_problem)

    def __init__(
        self, app: FastAPI, http: httpx.AsyncClient, mint: TokenMint, pubsub: RecordingPubSub
    ) -> None:
        self.app, self.http, self.mint, self.pubsub = app, http, mint, pubsub
        self.admin = self.headers(SHOP, "Admin")
        self.user = self.headers(SHOP, "User")

    def headers(self, shop: str, role: str) -> dict[str, str]:
        return bearer(self.mint.token(shop=shop, roles=[role], sub=f"{role.lower()}-of-{shop}"))

    async def create(self, name: str, shop: str = SHOP, **fields: Any) -> dict[str, Any]:
        headers = self.admin if shop == SHOP else self.headers(shop, "Admin")
        answer = await self.http.post(
            api("/categories", shop), json={"name": name, **fields}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def patch(self, category_id: str, **fields: Any) -> httpx.Response:
        return await self.http.patch(
            api(f"/categories/{category_id}"), json=fields, headers=self.admin
        )

    async def delete(self, category_id: str, cascade: str | None = None) -> httpx.Response:
        params = {"cascade": cascade} if cascade else {}
        return await self.http.delete(
            api(f"/categories/{category_id}"), params=params, headers=self.admin
        )

    async def tree(self, shop: str = SHOP) -> list[dict[str, Any]]:
        answer = await self.http.get(api("/categories", shop))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    async def get(self, category_id: str) -> dict[str, Any]:
        answer = await self.http.get(api(f"/categories/{category_id}"))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def chain(self, *names: str) -> list[dict[str, Any]]:
        """Categories each under the previous one: chain('a', 'b') is a > b."""
        made: list[dict[str, Any]] = []
        for name in names:
            parent = made[-1]["id"] if made else None
            made.append(await self.create(name, parent_id=parent))
        return made

    async def products(self, category_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(api(f"/categories/{category_id}/products"), params=params)

    async def all_products(self, category_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a listing, following `next_cursor`."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):
            query = dict(params) | ({"cursor": cursor} if cursor else {})
            answer = await self.products(category_id, **query)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            assert len(page["items"]) <= int(params.get("limit", 20))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("the listing never ended")

    # ------------------------------------------------------------------------- catalog's events

    @staticmethod
    def product_updated(
        product_id: str,
        *,
        version: int = 1,
        categories: list[str] = (),  # type: ignore[assignment]
        name: str | None = None,
        price: int = 1000,
        active: bool = True,
        available: int = 5,
        created_at: datetime | None = None,
        shop: str = SHOP,
        event_id: str | None = None,
    ) -> CloudEvent:
        data = ProductUpdated(
            product_id=product_id,
            name=name or f"Product {product_id[:8]}",
            slug=f"p-{product_id[:8]}",
            sku=f"SKU-{product_id[:8]}",
            price_amount=price,
            currency="EUR",
            active=active,
            category_ids=list(categories),
            available=available,
            created_at=created_at or datetime.now(UTC),
            version=version,
        )
        return CloudEvent(
            id=event_id or str(uuid.uuid4()),
            topic=PRODUCT_UPDATED,
            data=data.model_dump(mode="json"),
            shop=shop,
            source="catalog",
        )

    @staticmethod
    def product_deleted(
        product_id: str, *, version: int, shop: str = SHOP, event_id: str | None = None
    ) -> CloudEvent:
        data = ProductDeleted(product_id=product_id, version=version)
        return CloudEvent(
            id=event_id or str(uuid.uuid4()),
            topic=PRODUCT_DELETED,
            data=data.model_dump(mode="json"),
            shop=shop,
            source="catalog",
        )

    async def deliver(self, event: CloudEvent) -> Delivery:
        return await self.pubsub.deliver(event)

    async def add_product(self, product_id: str | None = None, **kw: Any) -> str:
        """A product in the projection, as catalog's `product.updated` would put it there."""
        product_id = product_id or str(uuid.uuid4())
        assert await self.deliver(self.product_updated(product_id, **kw)) == Delivery.SUCCESS
        return product_id


@pytest.fixture
def start_categories(
    start_app: AppFactory, mint: TokenMint, pubsub: RecordingPubSub
) -> Callable[..., Awaitable[CategoriesApi]]:
    """Start an app with changed settings (`max_depth=3`) and get its test API."""

    async def start(**changes: Any) -> CategoriesApi:
        app, http = await start_app(**changes)
        return CategoriesApi(app, http, mint, pubsub)

    return start


@pytest.fixture
async def categories(start_categories: Callable[..., Awaitable[CategoriesApi]]) -> CategoriesApi:
    return await start_categories()
