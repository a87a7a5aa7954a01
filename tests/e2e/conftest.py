"""The whole embedded platform, driven through the gateway as a shopper or admin would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shopfleet.platform import EmbeddedPlatform
from shopfleet.services import SERVICES
from tests.conftest import PostgresDatabases, require_service
from tests.support.platform import Shopper, make_platform
from tests.support.redis import REDIS_HOST, REDIS_PORT, drop_redis_keys


@pytest.fixture
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresDatabases
) -> AsyncIterator[EmbeddedPlatform]:
    """SQLite and local state; parametrize with "postgresql+redis" for the cluster's stores."""
    if getattr(request, "param", "sqlite") == "postgresql+redis":
        require_service("Redis", REDIS_HOST, REDIS_PORT)
        urls = {name: await postgres.create(name) for name in SERVICES if name != "cart"}
        embedded = make_platform(
            tmp_path / "data",
            database_urls=urls,
            state_store_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
        )
    else:
        embedded = make_platform(tmp_path / "data")
    async with embedded.running():
        yield embedded
    if embedded.platform.state_store_url:
        await drop_redis_keys(f"{embedded.platform.state_key_prefix}||*")


@pytest.fixture
async def client(platform: EmbeddedPlatform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(platform.gateway, client=("198.51.100.10", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shopfleet.test") as http:
        yield http


@pytest.fixture
def shopper(client: httpx.AsyncClient) -> Shopper:
    return Shopper(client)
