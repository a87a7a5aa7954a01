"""`shopfleet serve` with SHOPFLEET_BLOCKS=dapr, as in a pod: each part a process of its own
next to its own sidecar (the double of shopfleet.devtools.sidecar_double, on the machine's
Redis and RabbitMQ), found through DAPR_GRPC_PORT / DAPR_HTTP_PORT, each service on its own
PostgreSQL database.

gateway, identity and catalog: a tenant is bootstrapped at identity (an internal route, through
catalog's sidecar); identity's `shop.created` leaves through its outbox and sidecar and
reaches catalog through RabbitMQ and catalog's sidecar; through the gateway, the shop's admin
signs in and creates a product, which catalog prices in the shop's currency; every hop
(gateway → identity, gateway → catalog, catalog → identity for keys and settings) is service
invocation through the sidecars. All stop on SIGTERM with exit code 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shopfleet.kit.contracts.events import CATEGORY_DELETED, CATEGORY_UPDATED, SHOP_CREATED
from tests.integration.serve.processes import Served, clean_env, free_port
from tests.support.sidecar_double import DoubleRun, require_backends

SHOP = "dapr-mugs"
TOKEN = "serve-dapr-test-platform-token"
ADMIN = {"email": "boss@dapr-mugs.example.com", "password": "a long admin secret"}
SERVICES = ("identity", "catalog")
PARTS = (*SERVICES, "gateway")


@pytest.fixture
async def doubles() -> AsyncIterator[DoubleRun]:
    require_backends()
    run = DoubleRun()
    yield run
    await run.cleanup()


async def shop_currency(url: str, slug: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = await conn.execute(
                sa.text("SELECT currency FROM shops WHERE slug = :slug"), {"slug": slug}
            )
            return row.scalar_one_or_none()
    finally:
        await engine.dispose()


async def eventually(probe: Callable, what: str, wait_s: float = 60.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait_s
    while (found := await probe()) is None:
        if loop.time() > give_up:
            pytest.fail(f"not within {wait_s}s: {what}")
        await asyncio.sleep(0.1)
    return found


async def test_gateway_and_services_on_their_sidecars_invoke_each_other_and_deliver_events(
    doubles: DoubleRun, serve: Callable[..., Served], postgres, tmp_path: Path
) -> None:
    # (fixture order: the processes are killed before their sidecars stop)
    ports = {name: free_port() for name in PARTS}
    sidecars = {
        name: await doubles.start(
            name, app_port=ports[name], secret_stores=("secretstore",), app_ready_timeout_s=120
        )
        for name in PARTS
    }
    databases = {name: await postgres.create(f"serve_dapr_{name}") for name in SERVICES}
    routes_file = tmp_path / "routes.json"
    routes_file.write_bytes(orjson.dumps({"shops": {SHOP: {"hosts": ["mugs.example.com"]}}}))
    served = {}
    for name in PARTS:
        env = clean_env(
            SHOPFLEET_BLOCKS="dapr",
            DAPR_GRPC_PORT=str(sidecars[name].grpc_port),
            DAPR_HTTP_PORT=str(sidecars[name].http_port),
            SHOPFLEET_DATA_DIR=str(tmp_path / name),
            SHOPFLEET_PLATFORM_TOKEN=TOKEN,
            SHOPFLEET_LOG_FORMAT="json",
            SHOPFLEET_GATEWAY_ROUTES_FILE=str(routes_file),
            **(
                {} if name == "gateway" else {"SHOPFLEET_SERVICE_TOKEN": "serve-dapr-service-token"}
            ),
            **{f"SHOPFLEET_{svc.upper()}_DATABASE_URL": url for svc, url in databases.items()},
        )
        served[name] = serve(name, env, port=ports[name])
    for name in PARTS:
        # the gateway is ready when every service is: only its liveness here
        await served[name].wait_ready("/healthz" if name == "gateway" else "/readyz")
        await sidecars[name].wait_app_ready(60)
    # The sidecar read catalog's subscriptions from the app (GET /dapr/subscribe).
    routes = {route.topic: route for route in sidecars["catalog"].broker.routes}
    assert {SHOP_CREATED, CATEGORY_UPDATED, CATEGORY_DELETED} <= set(routes)
    assert routes[SHOP_CREATED].consumer == "catalog"

    invoke = f"{sidecars['catalog'].http_url}/v1.0/invoke"  # what catalog's callers use
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{invoke}/identity/method/internal/tenants",
            json={
                "shop": SHOP,
                "display_name": "Dapr Mugs",
                "currency": "USD",
                "admin_email": ADMIN["email"],
                "admin_password": ADMIN["password"],
            },
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 201, created.text

        # shop.created: identity's outbox → its sidecar → RabbitMQ → catalog's sidecar →
        # catalog's subscription route → catalog's own table of shops.
        async def currency() -> str | None:
            return await shop_currency(databases["catalog"], SHOP)

        assert await eventually(currency, "catalog learns of the shop from its event") == "USD"

        api = f"{served['gateway'].url}/shops/{SHOP}/api/v1"  # as a shopper would, from here on
        login = await client.post(f"{api}/auth/login", json=ADMIN)
        assert login.status_code == 200, login.text
        bearer = {"authorization": f"Bearer {login.json()['access_token']}"}
        product = await client.post(
            f"{api}/products",
            json={
                "name": "Sidecar mug",
                "sku": "MUG-DAPR-1",
                "price": {"amount": 1250},
                "on_hand": 3,
            },
            headers=bearer,
        )
        assert product.status_code == 201, product.text
        listing = await client.get(f"{api}/products")
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert (item["id"], item["name"]) == (product.json()["id"], "Sidecar mug")
    assert item["price"] == {"amount": 1250, "currency": "USD"}  # the shop's, from identity
    assert item["available"] == 3

    for name in PARTS:
        served[name].terminate()
    for name in PARTS:
        assert await served[name].wait_exit() == 0, served[name].output()
        events = [line["event"] for line in served[name].json_lines()]
        assert "serve.stopped" in events
