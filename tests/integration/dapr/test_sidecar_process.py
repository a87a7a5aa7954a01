"""The double as its own process, as the multi-process harness and `shopfleet dev` run it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import orjson

from shopfleet.kit.blocks import CloudEvent, new_event_id
from shopfleet.kit.blocks.dapr import close_dapr_blocks, dapr_blocks
from shopfleet.kit.settings import PlatformSettings
from tests.support.redis import REDIS_URL
from tests.support.sidecar_double import AMQP_URL, DoubleRun

REPO = Path(__file__).resolve().parents[3]


async def test_sidecar_process_serves_the_sdk_and_stops_cleanly_on_sigterm(
    double_run: DoubleRun, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_bytes(orjson.dumps({"shop-acme": {"stripe_api_key": "sk_test_acme"}}))
    double_run.exchanges.add(f"{double_run.prefix}pubsub")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shopfleet.devtools.sidecar_double",
        "--app-id",
        "cart",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--redis",
        REDIS_URL,
        "--amqp",
        AMQP_URL,
        "--prefix",
        double_run.prefix,
        "--secrets-file",
        str(secrets),
        "--log-level",
        "WARNING",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.startswith(b"READY "), line
        ready = orjson.loads(line.removeprefix(b"READY "))
        assert ready["app_id"] == "cart"

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ready['http_port']}") as http:
            assert (await http.get("/v1.0/healthz/outbound")).status_code == 204
            assert (await http.get("/v1.0/healthz")).status_code == 204  # no app to wait for

        blocks = dapr_blocks(
            PlatformSettings(),
            app_id="cart",
            grpc_port=ready["grpc_port"],
            http_port=ready["http_port"],
        )
        try:
            etag = await blocks.state.save("cart:acme:u1", {"items": [{"sku": "MUG", "qty": 1}]})
            item = await blocks.state.get("cart:acme:u1")
            assert item is not None and item.etag == etag
            assert await blocks.secrets.get("acme", "stripe_api_key") == "sk_test_acme"
            await blocks.pubsub.publish(
                CloudEvent(id=new_event_id(), topic="cart.checked_out", data={}, shop="acme")
            )
        finally:
            await close_dapr_blocks(blocks)

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
