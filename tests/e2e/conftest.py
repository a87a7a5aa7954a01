"""The whole embedded platform, driven through the gateway as a shopper or admin would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shopfleet.platform import EmbeddedPlatform
from tests.support.platform import Shopper, make_platform


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[EmbeddedPlatform]:
    embedded = make_platform(tmp_path / "data")
    async with embedded.running():
        yield embedded


@pytest.fixture
async def client(platform: EmbeddedPlatform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(platform.gateway, client=("198.51.100.10", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shopfleet.test") as http:
        yield http


@pytest.fixture
def shopper(client: httpx.AsyncClient) -> Shopper:
    return Shopper(client)
