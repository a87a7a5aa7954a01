"""A catalog app per test on a fresh database (SQLite or PostgreSQL), with local blocks.

Identity is a stub answering `GET /internal/shops/{shop}/settings` through a LocalInvoker;
category events are delivered straight to the catalog's subscription handlers; what the
outbox relay publishes is recorded.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from shopfleet.catalog.app import create_app
from shopfleet.catalog.settings import CatalogSettings
from shopfleet.kit.blocks import Blocks, Delivery, new_event_id
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.errors import NotFound, install_problem_handlers
from shopfleet.kit.settings import PlatformSettings
from tests.support.http import RunningApps, bearer, shop_api
from tests.support.problems import assert_problem
from tests.support.pubsub import RecordingPubSub
from tests.support.tokens import TokenMint

# newco's currency here differs from its shop.created event's: the test of the event
# (test_events.py) shows which one the catalog prices in.
SHOPS = {"acme": "EUR", "bolt": "USD", "newco": "EUR"}


def identity_stub() -> tuple[FastAPI, list[str]]:
    """Identity as catalog sees it: shop settings by invocation. Records each call."""
    app = FastAPI()
    install_problem_handlers(app)
    calls: list[str] = []

    @app.get("/internal/shops/{shop}/settings")
    async def settings(shop: str) -> dict[str, str]:
        calls.append(shop)
        if shop not in SHOPS:
            raise NotFound(f"Shop '{shop}' does not exist.")
        return {"shop": shop, "display_name": f"Shop {shop}", "currency": SHOPS[shop]}

    return app, calls


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> CatalogSettings:
    return CatalogSettings(
        database_url=await database_url_factory("catalog"),
        platform=PlatformSettings(data_dir=data_dir, access_log=False),
    )


api = shop_api


def png(width: int = 800, height: int = 600, color: str = "teal", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, fmt)
    return out.getvalue()


class CatalogApi:
    """The catalog API as a test uses it: `http` for raw calls, helpers for set-up steps."""

    api = staticmethod(api)
    bearer = staticmethod(bearer)
    assert_problem = staticmethod(assert_problem)
    png = staticmethod(png)

    def __init__(
        self,
        app: FastAPI,
        http: httpx.AsyncClient,
        mint: TokenMint,
        pubsub: RecordingPubSub,
        identity_calls: list[str],
    ) -> None:
        self.app, self.http, self.mint, self.pubsub = app, http, mint, pubsub
        self.identity_calls = identity_calls
        self.admin = bearer(mint.token(shop="acme", roles=["Admin"], sub="admin-1"))
        self.user = bearer(mint.token(shop="acme", roles=["User"], sub="user-1"))

    def admin_of(self, shop: str) -> dict[str, str]:
        return bearer(self.mint.token(shop=shop, roles=["Admin"], sub=f"admin-{shop}"))

    async def create(self, shop: str = "acme", **fields: Any) -> dict[str, Any]:
        n = fields.pop("n", None) or new_event_id()[:8]
        body = {"name": f"Product {n}", "sku": f"SKU-{n}", "price": {"amount": 1000}} | fields
        headers = self.admin if shop == "acme" else self.admin_of(shop)
        response = await self.http.post(api(shop, "/products"), headers=headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def category(
        self,
        category_id: str,
        parent_id: str | None = None,
        *,
        version: int = 1,
        slug: str | None = None,
        shop: str = "acme",
    ) -> None:
        data = {
            "category_id": category_id,
            "parent_id": parent_id,
            "slug": slug or category_id,
            "name": category_id.title(),
            "position": 0,
            "version": version,
        }
        assert await self.pubsub.deliver("category.updated", data, shop=shop) == Delivery.SUCCESS

    async def delete_category(self, category_id: str, *, version: int, shop: str = "acme") -> None:
        data = {"category_id": category_id, "version": version}
        assert await self.pubsub.deliver("category.deleted", data, shop=shop) == Delivery.SUCCESS

    async def get(self, product_id: str, shop: str = "acme", **kw: Any) -> httpx.Response:
        return await self.http.get(api(shop, f"/products/{product_id}"), **kw)

    async def list(self, shop: str = "acme", **params: Any) -> httpx.Response:
        return await self.http.get(api(shop, "/products"), params=params)

    async def internal(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, **kw)


AppFactory = Callable[..., Awaitable[CatalogApi]]


@pytest.fixture
async def start_catalog(
    settings: CatalogSettings, blocks: Blocks, pubsub: RecordingPubSub, mint: TokenMint
) -> AsyncIterator[AppFactory]:
    """Start a catalog app (optionally with changed settings); stopped at the end."""
    stub, calls = identity_stub()
    assert isinstance(blocks.invoker, LocalInvoker)
    blocks.invoker.register("identity", stub)
    async with RunningApps("http://catalog") as apps:

        async def start(**changes: Any) -> CatalogApi:
            app = create_app(settings.model_copy(update=changes), blocks, verifier=mint.verifier())
            return CatalogApi(app, await apps.start(app), mint, pubsub, calls)

        yield start


@pytest.fixture
async def catalog(start_catalog: AppFactory) -> CatalogApi:
    return await start_catalog()
