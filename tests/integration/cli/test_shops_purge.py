"""`shopfleet shops purge`: a retained shop's data deleted later, through the platform's API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from typer.testing import CliRunner

from shopfleet.cli import app
from tests.support.platform import PLATFORM_TOKEN, make_platform
from tests.support.server import free_port, serving
from tests.support.tenant_rows import rows_of_shop

PLATFORM = {"authorization": f"Bearer {PLATFORM_TOKEN}"}


async def purge(url: str, shop: str) -> tuple[int, str]:
    args = ["shops", "purge", shop, "--platform-url", url, "--yes"]
    env = {"SHOPFLEET_PLATFORM_TOKEN": PLATFORM_TOKEN}
    # The command runs its own event loop: in a thread, beside the served platform's.
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    return result.exit_code, result.output


async def test_a_retained_shop_is_purged_once_it_has_no_route(tmp_path: Path) -> None:
    port = free_port()
    platform = make_platform(tmp_path / "data")
    async with serving(platform, port) as url, httpx.AsyncClient(base_url=url) as http:
        tenant = {
            "shop": "gone",
            "display_name": "Gone",
            "admin_email": "boss@gone.example.com",
            "admin_password": "a long admin secret",
        }
        assert (await http.post("/internal/tenants", json=tenant, headers=PLATFORM)).is_success
        route = {"hosts": ["gone.test"]}
        assert (await http.put("/internal/routes/gone", json=route, headers=PLATFORM)).is_success
        login = await http.post(
            "/shops/gone/api/v1/auth/login",
            json={"email": "boss@gone.example.com", "password": "a long admin secret"},
        )
        admin = {"authorization": f"Bearer {login.json()['access_token']}"}
        product = {"name": "Mug", "sku": "MUG", "price": {"amount": 900}, "on_hand": 3}
        made = await http.post("/shops/gone/api/v1/products", json=product, headers=admin)
        assert made.status_code == 201, made.text
        before = await rows_of_shop(platform, "gone")
        assert before["catalog"] > 0 and before["identity"] > 0, before

        # Still routed: still served, so nothing is deleted.
        code, out = await purge(url, "gone")
        assert code != 0 and "still has a route" in out, out
        assert await rows_of_shop(platform, "gone") == before

        # Its Shop gone (the route with it), the data goes; a second purge finds nothing.
        assert (await http.delete("/internal/routes/gone", headers=PLATFORM)).status_code == 204
        code, out = await purge(url, "gone")
        assert code == 0, out
        assert "its data is deleted" in out
        assert set((await rows_of_shop(platform, "gone")).values()) == {0}
        assert (await purge(url, "gone"))[0] == 0
        assert (await rows_of_shop(platform, "demo"))["catalog"] > 0  # others untouched
