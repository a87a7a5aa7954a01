"""An identity app per test on a fresh database (SQLite or PostgreSQL); fast argon2."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from shopfleet.identity.app import create_app
from shopfleet.identity.settings import IdentitySettings
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.settings import PlatformSettings
from tests.support.clock import FakeClock
from tests.support.http import RunningApps, bearer, shop_api
from tests.support.problems import assert_problem

PLATFORM_TOKEN = "platform-secret-for-tests"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def settings(
    database_url_factory: Callable[[str], Awaitable[str]], data_dir: Path
) -> IdentitySettings:
    return IdentitySettings(
        database_url=await database_url_factory("identity"),
        platform=PlatformSettings(
            data_dir=data_dir, platform_token=SecretStr(PLATFORM_TOKEN), access_log=False
        ),
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        max_failures_per_account=3,
        max_failures_per_address=5,
        throttle_window_s=60,
    )


AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def start_app(
    settings: IdentitySettings, blocks: Blocks, clock: FakeClock
) -> AsyncIterator[AppFactory]:
    """Start an identity app (optionally with changed settings); all are stopped at the end."""
    async with RunningApps("http://identity") as apps:

        async def start(**changes: Any) -> tuple[FastAPI, httpx.AsyncClient]:
            app = create_app(settings.model_copy(update=changes), blocks, clock=clock)
            return app, await apps.start(app)

        yield start


# ----------------------------------------------------------------------------- helpers


api = shop_api


class IdentityApi:
    """The identity API as a test uses it: `http` for raw calls, helpers for set-up steps."""

    PLATFORM_TOKEN = PLATFORM_TOKEN
    ADMIN_PASSWORD = ADMIN_PASSWORD
    PASSWORD = PASSWORD
    api = staticmethod(api)
    bearer = staticmethod(bearer)
    assert_problem = staticmethod(assert_problem)

    def __init__(self, app: FastAPI, http: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app, self.http, self.clock = app, http, clock
        self.platform = bearer(PLATFORM_TOKEN)

    async def create_shop(self, shop: str) -> dict[str, Any]:
        response = await self.http.post(
            "/internal/tenants", headers=self.platform, json=self.tenant_body(shop)
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    @staticmethod
    def tenant_body(shop: str) -> dict[str, Any]:
        return {
            "shop": shop,
            "display_name": f"Shop {shop}",
            "currency": "EUR",
            "admin_email": f"admin@{shop}.example.com",
            "admin_password": ADMIN_PASSWORD,
        }

    async def register(self, shop: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.http.post(
            api(shop, "/auth/register"),
            json={"email": email, "password": password, "display_name": email.split("@")[0]},
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def login(self, shop: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.http.post(
            api(shop, "/auth/login"), json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def admin_token(self, shop: str) -> str:
        return (await self.login(shop, f"admin@{shop}.example.com", ADMIN_PASSWORD))["access_token"]

    async def user_token(self, shop: str, email: str) -> str:
        await self.register(shop, email)
        return (await self.login(shop, email))["access_token"]


@pytest.fixture
async def identity(start_app: AppFactory, clock: FakeClock) -> IdentityApi:
    app, http = await start_app()
    return IdentityApi(app, http, clock)
