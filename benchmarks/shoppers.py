"""The demo shop's shoppers as the load benchmarks drive them: each its own account and
address, the shop's stock raised out of the way, and one complete checkout (cart → order →
payment intent → confirm → paid, the Stripe emulator's webhook included)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

SHOP = "demo"
API = f"/shops/{SHOP}/api/v1"
CARD = "pm_card_visa"
PAID = frozenset({"paid", "fulfilling", "shipped", "delivered"})
ADDRESS = {
    "name": "Bench Shopper",
    "line1": "Hauptstrasse 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class Shop:
    """A client of the demo shop, as its admin or one shopper. `on_answer`, when set, is
    told each answered request's latency (whatever its status)."""

    def __init__(self, session: aiohttp.ClientSession, token: str | None = None) -> None:
        self.session, self.token = session, token
        self.on_answer: Callable[[float], None] | None = None

    async def call(
        self, method: str, path: str, body: object = None, expect: tuple[int, ...] = (200, 201)
    ) -> dict:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        started = time.perf_counter()
        async with self.session.request(method, API + path, json=body, headers=headers) as a:
            payload = await a.json(content_type=None) if a.content_length != 0 else {}
        if self.on_answer is not None:
            self.on_answer((time.perf_counter() - started) * 1000)
        if a.status not in expect:
            raise RuntimeError(f"{method} {path}: {a.status} {payload}")
        return payload or {}


async def login(session: aiohttp.ClientSession, email: str, password: str) -> Shop:
    tokens = await Shop(session).call("POST", "/auth/login", {"email": email, "password": password})
    return Shop(session, tokens["access_token"])


async def prepare(
    session: aiohttp.ClientSession, data_dir: Path, shoppers: int, run: str
) -> tuple[list[tuple[Shop, str]], list[str]]:
    """`shoppers` signed-in shoppers with an address each, and the demo products' ids."""
    creds = json.loads((data_dir / "demo-credentials.json").read_text())
    admin = await login(session, creds["admin_email"], creds["admin_password"])
    products = (await admin.call("GET", "/products?limit=100"))["items"]
    ids = [p["id"] for p in products]
    for product_id in ids:  # enough stock that no checkout of the run runs out
        await admin.call("PUT", f"/products/{product_id}/stock", {"on_hand": 1_000_000})
    people = []
    for n in range(shoppers):
        email, password = f"bench-{run}-{n}@example.com", "a long bench password"
        await Shop(session).call(
            "POST",
            "/auth/register",
            {"email": email, "password": password, "display_name": f"Bench {n}"},
        )
        shopper = await login(session, email, password)
        address = await shopper.call("POST", "/shipping/addresses", ADDRESS)
        people.append((shopper, address["id"]))
    return people, ids


async def checkout(shopper: Shop, address_id: str, product_ids: list[str], poll_s: float) -> float:
    """One product into the cart, then the whole checkout until the order is paid; returns
    the seconds from `POST /orders` to paid. Raises on any refusal or after 30 s unpaid."""
    await shopper.call(
        "POST", "/cart/items", {"product_id": random.choice(product_ids), "quantity": 1}
    )
    started = time.perf_counter()
    order = await shopper.call(
        "POST", "/orders", {"shipping_method": "standard", "shipping_address_id": address_id}
    )
    payment = await shopper.call(
        "POST", "/payments/intents", {"order_id": order["id"], "payment_method": CARD}
    )
    await shopper.call("POST", f"/payments/{payment['id']}/confirm", {})
    deadline = time.monotonic() + 30
    # Paid, or already past it: shipping's shipment moves a paid order on at once.
    while (await shopper.call("GET", f"/orders/{order['id']}"))["status"] not in PAID:
        if time.monotonic() > deadline:
            raise RuntimeError("order not paid 30 s after confirming")
        await asyncio.sleep(poll_s)
    return time.perf_counter() - started
