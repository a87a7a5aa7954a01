"""The multi-process platform, started once per session and shared by every test here.

The fixtures `platform`, `client`, `shopper` and `served` replace the embedded platform's
of `tests/e2e/conftest.py`, so the embedded journeys run unchanged against the processes:
the gateway is reached over HTTP, every hop behind it goes through the sidecar doubles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shopfleet.dev.multiprocess import MultiProcessPlatform
from tests.conftest import PostgresDatabases
from tests.support.multiprocess import DeadLetters, multiprocess_platform
from tests.support.platform import Shopper


@pytest.fixture(scope="package")  # stopped once its tests are done: ~20 processes
async def multiprocess(
    postgres: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[MultiProcessPlatform, DeadLetters]]:
    async with multiprocess_platform(postgres, tmp_path_factory.mktemp("multiprocess")) as started:
        yield started


@pytest.fixture
def platform(multiprocess: tuple[MultiProcessPlatform, DeadLetters]) -> MultiProcessPlatform:
    return multiprocess[0]


@pytest.fixture
def dead_letters(multiprocess: tuple[MultiProcessPlatform, DeadLetters]) -> DeadLetters:
    return multiprocess[1]


@pytest.fixture
async def client(platform: MultiProcessPlatform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.url, timeout=30) as http:
        yield http


@pytest.fixture
def shopper(client: httpx.AsyncClient) -> Shopper:
    return Shopper(client)


@pytest.fixture
def served(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> tuple[MultiProcessPlatform, httpx.AsyncClient]:
    """What the embedded checkout journeys take: the platform and a client of its gateway."""
    return platform, client


@pytest.fixture
async def well_stocked(platform: MultiProcessPlatform, client: httpx.AsyncClient) -> None:
    """Plenty of stock on the products a checkout journey picks (the first in stock): the
    platform is shared by the whole session, so earlier journeys have taken some."""
    assert platform.demo is not None
    api = "/shops/demo/api/v1"
    login = await client.post(
        f"{api}/auth/login",
        json={"email": platform.demo.admin_email, "password": platform.demo.admin_password},
    )
    admin = {"authorization": f"Bearer {login.json()['access_token']}"}
    page = await client.get(f"{api}/products", params={"in_stock": "true", "limit": 5})
    for product in page.json()["items"]:
        answer = await client.put(
            f"{api}/products/{product['id']}/stock", json={"on_hand": 1000}, headers=admin
        )
        assert answer.status_code == 200, answer.text
