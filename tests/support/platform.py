"""The embedded platform for tests, and a shopper's client of one shop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import SecretStr

from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.settings import PlatformSettings
from shopfleet.platform import EmbeddedPlatform
from tests.support.redis import redis_test_prefix

PLATFORM_TOKEN = "e2e-platform-token"


def make_platform(
    data_dir: Path,
    *,
    database_urls: Mapping[str, str] | None = None,
    state_store_url: str | None = None,
    public_url: str | None = None,
    **gateway: object,
) -> EmbeddedPlatform:
    """The embedded platform: SQLite and local state unless databases/Redis are given.

    `public_url`: where it will be served (tests.support.server), for webhooks to reach it.
    """
    settings = PlatformSettings(
        data_dir=data_dir,
        platform_token=SecretStr(PLATFORM_TOKEN),
        access_log=False,
        state_store_url=state_store_url,
        state_key_prefix=redis_test_prefix(),
        public_url=public_url,
    )
    return EmbeddedPlatform(
        settings,
        gateway_settings=GatewaySettings(platform=settings, **gateway),
        database_urls=database_urls,
    )


class Shopper:
    """A client of one shop's API with helpers for the identity flows."""

    def __init__(self, client: httpx.AsyncClient, shop: str = "demo") -> None:
        self.client = client
        self.api = f"/shops/{shop}/api/v1"

    async def register(
        self, email: str, password: str = "a long password", name: str = "Ada"
    ) -> httpx.Response:
        return await self.client.post(
            f"{self.api}/auth/register",
            json={"email": email, "password": password, "display_name": name},
        )

    async def login(self, email: str, password: str = "a long password") -> httpx.Response:
        return await self.client.post(
            f"{self.api}/auth/login", json={"email": email, "password": password}
        )

    async def tokens(self, email: str, password: str = "a long password") -> dict:
        answer = await self.login(email, password)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def bearer(self, tokens: dict) -> dict[str, str]:
        return {"authorization": f"Bearer {tokens['access_token']}"}
