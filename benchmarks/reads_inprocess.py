"""CPU per read request through the embedded platform, in this process, without sockets.

`python -m benchmarks.reads_inprocess [--requests 2000] [--clients 8] [--profile out.prof]`

The platform is built as `shopfleet up` builds it (its settings from the environment, the
console log renderer at INFO, the access log on, SQLite, the demo shop seeded) and its
gateway is called with the ASGI scope a server would hand it, so everything from the
gateway's first middleware to the service's answer is measured, and only the HTTP server
(the same for every configuration) is left out. The log goes to a file: stderr is
redirected as it is when `shopfleet up` runs under a benchmark.

For each read a signed-in shopper makes (a product, a page of 20, the category tree, the
cart, the own user, an own order: the checkout polls it until paid), `--clients` tasks
send `--requests` requests in all; the CPU of the process per request
(`time.process_time`) is printed per read, for `--rounds` rounds.
`--profile` writes a cProfile of the whole measured part (read it with `pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from benchmarks.procs import RATE_LIMITS_OFF
from benchmarks.shoppers import ADDRESS
from shopfleet.kit import telemetry
from shopfleet.kit.settings import PlatformSettings
from shopfleet.platform import EmbeddedPlatform

API = "/shops/demo/api/v1"


class Client:
    """Calls the platform's ASGI app as uvicorn would, with a browser-like head."""

    def __init__(self, app: EmbeddedPlatform) -> None:
        self.app = app
        self.token = b""

    async def call(self, method: str, target: str, body: object = None) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        payload = orjson.dumps(body) if body is not None else b""
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"Python/3.12 aiohttp/3.12"),
            (b"accept", b"*/*"),
            (b"accept-encoding", b"gzip, deflate"),
        ]
        if self.token:
            headers.append((b"authorization", b"Bearer " + self.token))
        if payload:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": headers,
            "state": {},
        }
        status, chunks, sent = 0, [], False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def ok(self, method: str, target: str, body: object = None) -> dict:
        status, answer = await self.call(method, target, body)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {target}: {status} {answer[:300]!r}")
        return orjson.loads(answer) if answer else {}


async def shopper(app: EmbeddedPlatform) -> tuple[Client, list[str], str]:
    """A registered, signed-in shopper with one product in the cart and one order placed;
    the demo products and the order's id."""
    client = Client(app)
    products = [p["id"] for p in (await client.ok("GET", f"{API}/products?limit=100"))["items"]]
    email, password = "reads@example.com", "a long bench password"
    account = {"email": email, "password": password, "display_name": "Reads"}
    await client.ok("POST", f"{API}/auth/register", account)
    tokens = await client.ok("POST", f"{API}/auth/login", {"email": email, "password": password})
    client.token = tokens["access_token"].encode()
    line = {"product_id": products[0], "quantity": 1}
    await client.ok("POST", f"{API}/cart/items", line)
    placing = {"shipping_method": "standard", "shipping_address": ADDRESS}
    order = await client.ok("POST", f"{API}/orders", placing)
    await client.ok("POST", f"{API}/cart/items", line)  # the order emptied it: as before
    return client, products, order["id"]


def reads(products: list[str], order_id: str) -> dict[str, str]:
    return {
        "GET /products/{id}": f"{API}/products/{products[1]}",
        "GET /products?limit=20": f"{API}/products?limit=20",
        "GET /categories": f"{API}/categories",
        "GET /cart": f"{API}/cart",
        "GET /users/me": f"{API}/users/me",
        "GET /orders/{id}": f"{API}/orders/{order_id}",
    }


async def cpu_per_request(client: Client, target: str, requests: int, clients: int) -> float:
    """Process CPU µs per request, `requests` spread over `clients` concurrent tasks."""
    each = requests // clients

    async def loop() -> None:
        for _ in range(each):
            status, body = await client.call("GET", target)
            if status != 200:
                raise RuntimeError(f"GET {target}: {status} {body[:300]!r}")

    started = time.process_time()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return (time.process_time() - started) / (each * clients) * 1e6


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """fd 2 into `path`, as a benchmark's `shopfleet up` writes its log to a file."""
    saved = os.dup(2)
    with path.open("wb") as out:
        os.dup2(out.fileno(), 2)
    try:
        yield
    finally:
        telemetry.flush_logs()
        os.dup2(saved, 2)
        os.close(saved)


async def main(args: argparse.Namespace) -> None:
    os.environ.update(RATE_LIMITS_OFF)  # the reads, not the 429 path
    tmp = Path(tempfile.mkdtemp(prefix="shopfleet-reads-"))
    settings = PlatformSettings().model_copy(update={"data_dir": tmp / "platform"})
    with stderr_to(tmp / "platform.log"):
        telemetry.configure_logging(settings.log_level, settings.log_format)
        platform = EmbeddedPlatform(settings, freeze_gc=True)
        async with platform.running():
            client, products, order_id = await shopper(platform)
            targets = reads(products, order_id)
            for target in targets.values():  # warm caches (token, statements)
                await cpu_per_request(client, target, args.clients * 20, args.clients)
            # CPU time of the event loop's thread: wall time would count waits for the GIL.
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            results: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, target in targets.items():
                    if profile:
                        profile.enable()
                    us = await cpu_per_request(client, target, args.requests, args.clients)
                    if profile:
                        profile.disable()
                    results[name].append(us)
            if profile:
                profile.dump_stats(args.profile)
    for name, values in results.items():
        shown = " ".join(f"{v:5.0f}" for v in values)
        print(f"{name:24} median {statistics.median(values):5.0f} µs  ({shown})")
    print(f"log: {tmp / 'platform.log'}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per read and round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the measured part here")
    asyncio.run(main(parser.parse_args()))
