"""`shopfleet serve <service>` runs one service the way its container does, and stops the way
Kubernetes stops it: SIGTERM → no new connections → in-flight requests finish → exit 0."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest

from tests.integration.serve.processes import Served, clean_env, free_port, shopfleet

SHOP = "acme"


async def wait_until_refused(port: int, deadline_s: float = 30.0) -> None:
    """Until the listening socket is closed (a connect is refused)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    while loop.time() < give_up:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return
        writer.close()
        await asyncio.sleep(0.05)
    pytest.fail(f"port {port} still accepts connections {deadline_s}s after SIGTERM")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def test_serve_answers_and_drains_a_request_in_flight_on_sigterm(
    serve: Callable[..., Served], catalog_env: dict[str, str]
) -> None:
    served = serve("catalog", catalog_env)
    await served.wait_ready()
    async with httpx.AsyncClient(base_url=served.url) as client:
        page = await client.get(f"/shops/{SHOP}/api/v1/products", params={"limit": 5})
        health = await client.get("/healthz")
    assert page.status_code == 200, page.text
    assert page.json() == {"items": [], "next_cursor": None}
    assert health.json() == {"status": "ok"}

    # A slow upload: the headers now, the body later. With `Expect: 100-continue` the server
    # says when the app is handling the request and waits for the body (as curl uploads do).
    body = orjson.dumps({"ids": ["p-1", "p-2"]})
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(
        f"POST /internal/shops/{SHOP}/products/lookup HTTP/1.1\r\nHost: catalog\r\n"
        f"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    await writer.drain()
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert await reader.readline() == b"\r\n"

    served.terminate()
    await wait_until_refused(served.port)  # no new connections once SIGTERM arrived ...
    writer.write(body)  # ... but the request in flight is still served to the end
    await writer.drain()
    status, headers, payload = await read_response(reader)
    writer.close()
    assert status == 200, payload
    assert orjson.loads(payload) == {"items": [], "missing": ["p-1", "p-2"]}
    assert headers.get("connection") == "close"  # and the client is told to go elsewhere

    assert await served.wait_exit() == 0, served.output()
    lines = served.json_lines()  # JSON logs: every line of the output is one JSON object
    events = [line["event"] for line in lines]
    assert "serve.started" in events
    assert events.index("serve.stopping") < events.index("serve.stopped")  # lifespan ran
    assert any(
        line.get("path") == f"/internal/shops/{SHOP}/products/lookup" and line["status"] == 200
        for line in lines
    )


async def test_no_migrate_refuses_an_unmigrated_database_then_serves_a_migrated_one(
    serve: Callable[..., Served], catalog_env: dict[str, str]
) -> None:
    port = str(free_port())
    code, out = await asyncio.to_thread(
        shopfleet, "serve", "catalog", "--no-migrate", "--port", port, env=catalog_env
    )
    assert code == 1, out
    assert "run `shopfleet migrate catalog` first" in out
    assert "catalog did not start" in out

    code, out = await asyncio.to_thread(shopfleet, "migrate", "catalog", env=catalog_env)
    assert code == 0, out
    served = serve("catalog", catalog_env, "--no-migrate")
    await served.wait_ready()
    async with httpx.AsyncClient(base_url=served.url) as client:
        page = await client.get(f"/shops/{SHOP}/api/v1/products")
    assert page.status_code == 200, page.text


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_an_unknown_service_is_a_usage_error_naming_the_services(command: str) -> None:
    code, out = shopfleet(command, "warehouse", env=clean_env(SHOPFLEET_BLOCKS="local"))
    assert code == 2, out
    assert "'warehouse' is not one of" in out
    for name in ("gateway", "identity", "catalog", "categories", "cart"):
        assert f"'{name}'" in out


async def test_serve_gateway_routes_with_its_route_table(
    serve: Callable[..., Served], tmp_path
) -> None:
    routes = tmp_path / "routes.json"
    routes.write_bytes(orjson.dumps({"shops": {SHOP: {"hosts": ["shop.acme.example.com"]}}}))
    env = clean_env(
        SHOPFLEET_BLOCKS="local",
        SHOPFLEET_DATA_DIR=str(tmp_path / "data"),
        SHOPFLEET_GATEWAY_ROUTES_FILE=str(routes),
        SHOPFLEET_LOG_FORMAT="json",
    )
    served = serve("gateway", env)
    await served.wait_ready("/healthz")
    async with httpx.AsyncClient(base_url=served.url) as client:
        unknown = await client.get("/shops/globex/api/v1/products")
        routed = await client.get(f"/shops/{SHOP}/api/v1/products")
        ready = await client.get("/readyz")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    # Local blocks reach no other process: a routed shop's service is down (503), and
    # readiness says which services the gateway cannot see.
    assert routed.status_code == 503, routed.text
    assert ready.status_code == 503
    assert ready.json()["detail"].startswith("Not ready: services")
    served.terminate()
    assert await served.wait_exit() == 0, served.output()
