"""Demo data for the embedded platform: the shop `demo`, its admin, a shopper, a catalog.

Seeding is a client of the platform: it goes through the gateway with the platform
credential and the demo admin's token, exactly as an operator and a shop admin would, so
every start proves those APIs. Every step is idempotent (a second start changes nothing).
The admin's token comes from identity for the platform credential, never from the public
login: a locked-out or changed demo admin must not stop the platform from starting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from shopfleet.gateway.routes import RouteFile
from shopfleet.kit.contracts.routes import Route
from shopfleet.kit.settings import secret
from shopfleet.kit.telemetry import quiet_requests

if TYPE_CHECKING:
    from shopfleet.platform import DemoCredentials, EmbeddedPlatform

log = structlog.get_logger("shopfleet.seed")

DEMO_SHOP = "demo"
API = f"/shops/{DEMO_SHOP}/api/v1"


class SeedError(RuntimeError):
    pass


def _expect(answer: httpx.Response, *ok: int) -> httpx.Response:
    if answer.status_code not in ok:
        request = answer.request
        raise SeedError(
            f"{request.method} {request.url.path}: {answer.status_code} {answer.text[:300]}"
        )
    return answer


async def seed_demo_shop(platform: EmbeddedPlatform) -> DemoCredentials:
    from shopfleet.platform import DemoCredentials

    assert platform.gateway is not None and platform.platform.platform_token is not None
    creds = DemoCredentials.load_or_create(platform.platform.data_dir)
    quiet = quiet_requests.set(True)  # a hundred seeding requests are not news
    try:
        await _seed(platform, creds)
    finally:
        quiet_requests.reset(quiet)
    return creds


async def _seed(platform: EmbeddedPlatform, creds: DemoCredentials) -> None:
    token, gateway = secret(platform.platform.platform_token), platform.gateway
    if token is None or gateway is None:  # EmbeddedPlatform gives both once started
        raise RuntimeError("seeding needs a started platform with a platform token")
    transport = httpx.ASGITransport(gateway, client=("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url="http://seed", timeout=60) as http:
        await seed_through(http, token, platform.routes, platform.service_names, creds)


async def seed_through(
    http: httpx.AsyncClient,
    token: str,
    routes: RouteFile,
    service_names: Collection[str],
    creds: DemoCredentials,
) -> None:
    """Seed the demo shop through a gateway `http` reaches (in-process or over the network,
    as `shopfleet dev` does), with the platform `token`; `routes` is the gateway's table."""
    operator = {"authorization": f"Bearer {token}"}
    tenant = {
        "shop": DEMO_SHOP,
        "display_name": "shopfleet demo",
        "currency": "EUR",
        "admin_email": creds.admin_email,
        "admin_password": creds.admin_password,
    }
    _expect(await http.post("/internal/tenants", json=tenant, headers=operator), 200, 201)
    routes.load()
    if routes.table.shop(DEMO_SHOP) is None:
        routes.put(DEMO_SHOP, Route(hosts=[f"{DEMO_SHOP}.localhost"]))
    shopper = {"email": creds.shopper_email, "password": creds.shopper_password}
    registered = await http.post(
        f"{API}/auth/register", json={**shopper, "display_name": "Demo Shopper"}
    )
    _expect(registered, 201, 409)
    if {"catalog", "categories"} <= set(service_names):
        issued = await http.post(f"/internal/tenants/{DEMO_SHOP}/admin-token", headers=operator)
        if _expect(issued, 200, 404).status_code == 404:
            log.warning("the demo shop has no Admin: its catalog is not seeded")
            return
        admin = {"authorization": f"Bearer {issued.json()['access_token']}"}
        await _seed_catalog(http, admin)
        if "shipping" in service_names:
            from shopfleet.shipping.demo import seed_default_methods

            await seed_default_methods(http, API, admin)


async def _seed_catalog(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    from shopfleet.catalog import demo

    existing = _expect(
        await http.get(
            f"{API}/products", params={"limit": 1, "include_inactive": "true"}, headers=admin
        ),
        200,
    )
    if existing.json()["items"]:
        return  # seeded before; the shop's admin owns the catalog now
    log.info("seeding the demo catalog", products=len(demo.PRODUCTS))
    ids: dict[str, str] = {}
    for category in demo.CATEGORIES:  # parents come before their children
        body: dict[str, Any] = {"name": category.name, "slug": category.slug}
        if category.parent:
            body["parent_id"] = ids[category.parent]
        created = _expect(await http.post(f"{API}/categories", json=body, headers=admin), 201, 409)
        if created.status_code == 409:
            ids.update(await _category_ids(http))
        else:
            ids[category.slug] = created.json()["id"]
    await _wait_until_catalog_knows(http, admin, ids)
    for product in demo.PRODUCTS:
        answer = await http.post(
            f"{API}/products", json=demo.product_request(product, ids), headers=admin
        )
        if _expect(answer, 201, 409).status_code == 409:
            continue  # a product with that SKU exists already
        image = await asyncio.to_thread(demo.product_image, product)
        upload = await http.post(
            f"{API}/products/{answer.json()['id']}/images",
            files={"file": (f"{product.sku.lower()}.jpg", image, "image/jpeg")},
            headers=admin,
        )
        _expect(upload, 201)


async def _category_ids(http: httpx.AsyncClient) -> dict[str, str]:
    tree = _expect(await http.get(f"{API}/categories"), 200).json()
    found: dict[str, str] = {}
    stack = list(tree["items"])
    while stack:
        node = stack.pop()
        found[node["slug"]] = node["id"]
        stack.extend(node.get("children", []))
    return found


async def _wait_until_catalog_knows(
    http: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, str]
) -> None:
    """Catalog learns categories from events: wait (briefly) until it accepts the last one."""
    last = next(reversed(ids.values()))
    for _ in range(100):
        probe = await http.get(
            f"{API}/products", params={"category": last, "limit": 1}, headers=admin
        )
        if probe.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise SeedError("catalog did not learn the demo categories from their events in 5 s")
