"""Demo data for the embedded platform: the shop `demo`, its admin and a shopper.

Seeding goes through the same internal and public APIs an operator and a shopper use,
so it proves them on every start; every step is idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import structlog

from shopfleet.gateway.routes import Route

if TYPE_CHECKING:
    from shopfleet.platform import DemoCredentials, EmbeddedPlatform

log = structlog.get_logger("shopfleet.seed")

DEMO_SHOP = "demo"


async def seed_demo_shop(platform: EmbeddedPlatform) -> DemoCredentials:
    from shopfleet.platform import DemoCredentials

    assert platform.blocks is not None
    creds = DemoCredentials.load_or_create(platform.platform.data_dir)
    invoker = platform.blocks.invoker
    token = platform.platform.platform_token.get_secret_value()  # type: ignore[union-attr]
    json_headers = [(b"content-type", b"application/json")]
    answer = await invoker.invoke(
        "identity",
        "POST",
        "/internal/tenants",
        headers=[*json_headers, (b"authorization", f"Bearer {token}".encode())],
        body=orjson.dumps(
            {
                "shop": DEMO_SHOP,
                "display_name": "shopfleet demo",
                "currency": "EUR",
                "admin_email": creds.admin_email,
                "admin_password": creds.admin_password,
            }
        ),
    )
    if answer.status not in (200, 201):
        raise RuntimeError(f"seeding the demo shop failed: {answer.status} {answer.body[:300]!r}")
    routes = platform.routes
    routes.load()
    if routes.table.shop(DEMO_SHOP) is None:
        routes.put(DEMO_SHOP, Route(hosts=[f"{DEMO_SHOP}.localhost"]))
    answer = await invoker.invoke(
        "identity",
        "POST",
        f"/shops/{DEMO_SHOP}/api/v1/auth/register",
        headers=json_headers,
        body=orjson.dumps(
            {
                "email": creds.shopper_email,
                "password": creds.shopper_password,
                "display_name": "Demo Shopper",
            }
        ),
    )
    if answer.status not in (201, 409):
        raise RuntimeError(
            f"seeding the demo shopper failed: {answer.status} {answer.body[:300]!r}"
        )
    if answer.status == 201:
        log.info("demo shop seeded", shop=DEMO_SHOP)
    return creds
