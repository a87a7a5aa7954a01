"""The admin commands work on a data dir, and what they create is usable through the API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
from typer.testing import CliRunner

from shopfleet.cli import app
from tests.support.platform import Shopper, make_platform

runner = CliRunner()


def shopfleet(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
    return result.exit_code, result.output


def test_shops_create_is_idempotent_and_routes_the_shop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = (
        "shops",
        "create",
        "acme",
        "--name",
        "ACME",
        "--currency",
        "USD",
        "--admin-email",
        "boss@acme.com",
        "--admin-password",
        "a long admin secret",
        "--host",
        "shop.acme.test",
    )
    code, out = shopfleet(data, *args)
    assert code == 0, out
    assert "created" in out
    code, out = shopfleet(data, *args)
    assert code == 0 and "already exists" in out
    routes = orjson.loads((data / "routes.json").read_bytes())
    assert routes["shops"]["acme"]["hosts"] == ["shop.acme.test"]
    code, out = shopfleet(data, "shops", "list")
    assert code == 0 and "acme" in out and "USD" in out and "shop.acme.test" in out


def test_bad_input_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out = shopfleet(
        data,
        "shops",
        "create",
        "Not_A_Slug",
        "--admin-email",
        "x@y.com",
        "--admin-password",
        "a long admin secret",
    )
    assert code == 1 and "shop" in out and "Traceback" not in out
    code, out = shopfleet(
        data,
        "shops",
        "create",
        "ok",
        "--currency",
        "XXY",
        "--admin-email",
        "x@y.com",
        "--admin-password",
        "a long admin secret",
    )
    assert code == 1 and "currency" in out
    code, out = shopfleet(
        data,
        "users",
        "add",
        "--shop",
        "missing",
        "--email",
        "a@b.com",
        "--password",
        "a long password",
    )
    assert code == 1 and "missing" in out
    shopfleet(
        data,
        "shops",
        "create",
        "ok",
        "--admin-email",
        "x@y.com",
        "--admin-password",
        "a long admin secret",
    )
    code, out = shopfleet(
        data,
        "users",
        "add",
        "--shop",
        "ok",
        "--email",
        "a@b.com",
        "--password",
        "a long password",
        "--role",
        "Boss",
    )
    assert code == 1 and "roles" in out
    code, out = shopfleet(
        data, "users", "add", "--shop", "ok", "--email", "x@y.com", "--password", "a long password"
    )
    assert code == 1 and "already exists" in out


async def test_what_the_cli_creates_works_through_the_running_platform(tmp_path: Path) -> None:
    data = tmp_path / "data"
    embedded = make_platform(data)
    async with embedded.running():
        # while the platform runs, as an operator would
        code, out = await asyncio.to_thread(
            shopfleet,
            data,
            "shops",
            "create",
            "acme",
            "--admin-email",
            "boss@acme.com",
            "--admin-password",
            "a long admin secret",
            "--host",
            "acme.test",
        )
        assert code == 0, out
        code, out = await asyncio.to_thread(
            shopfleet,
            data,
            "users",
            "add",
            "--shop",
            "acme",
            "--email",
            "clerk@acme.com",
            "--password",
            "a long clerk secret",
            "--role",
            "Admin",
            "--role",
            "User",
        )
        assert code == 0, out
        embedded.routes.load()  # the gateway notices by itself within its reload interval
        transport = httpx.ASGITransport(embedded.gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            acme = Shopper(client, "acme")
            clerk = await acme.tokens("clerk@acme.com", "a long clerk secret")
            users = await client.get(f"{acme.api}/users", headers=acme.bearer(clerk))
            assert users.status_code == 200
            emails = {u["email"] for u in users.json()["items"]}
            assert emails == {"boss@acme.com", "clerk@acme.com"}
            by_host = await client.get(
                "/api/v1/users/me", headers={**acme.bearer(clerk), "host": "acme.test"}
            )
            assert by_host.status_code == 200

            code, out = await asyncio.to_thread(shopfleet, data, "keys", "rotate")
            assert code == 0, out
            # a token signed by the retired key keeps working until it expires
            me = await client.get(f"{acme.api}/users/me", headers=acme.bearer(clerk))
            assert me.status_code == 200


async def test_users_unlock_lifts_a_lockout_of_the_running_platform(tmp_path: Path) -> None:
    data = tmp_path / "data"
    embedded = make_platform(data)
    async with embedded.running():
        transport = httpx.ASGITransport(embedded.gateway, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            shop = Shopper(client)
            assert (await shop.register("ann@example.com")).status_code == 201
            answer = None
            for _ in range(10):  # wrong passwords until refused
                answer = await shop.login("ann@example.com", "a wrong password")
                if answer.status_code == 429:
                    break
            assert answer is not None and answer.status_code == 429, answer
            assert (await shop.login("ann@example.com")).status_code == 429

            code, out = await asyncio.to_thread(
                shopfleet, data, "users", "unlock", "--shop", "demo", "--email", "Ann@example.com"
            )
            assert code == 0, out
            assert "unlocked" in out
            assert (await shop.login("ann@example.com")).status_code == 200

    unlock = ("users", "unlock", "--shop", "demo")
    code, out = await asyncio.to_thread(shopfleet, data, *unlock, "--email", "nobody@x.com")
    assert code == 1 and "nobody@x.com" in out
    code, out = await asyncio.to_thread(shopfleet, data, *unlock)
    assert code == 1 and "--email" in out
    code, out = await asyncio.to_thread(shopfleet, data, *unlock, "--address", "203.0.113.9")
    assert code == 0, out
