"""Issue 12, hole 7: a client cannot choose its own address with X-Forwarded-For.

`shopfleet up` ran uvicorn with its default `proxy_headers`, which believes
X-Forwarded-For from 127.0.0.1: anything on the machine got a fresh rate-limit bucket (and
login-throttle address) per request by naming a new address. Every server of ours now
believes forwarded headers from the configured proxies only (none by default).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.security.conftest import API
from tests.support.platform import make_platform
from tests.support.server import free_port, serving

BURST = 200  # room for the demo seed, which goes through the gateway as 127.0.0.1 too


async def test_forwarded_for_does_not_buy_a_new_rate_limit_bucket(tmp_path: Path) -> None:
    """Issue 12, hole 7: served as `shopfleet up` serves it, a platform that allows a
    client a burst of 200 requests stops it within 250, though each names another
    X-Forwarded-For."""
    platform = make_platform(tmp_path / "data", client_rate_per_s=0.001, client_burst=BURST)
    async with (
        serving(platform, free_port(), settings=platform.platform) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        statuses = [
            (
                await http.get(
                    f"{API}/products", headers={"x-forwarded-for": f"198.51.{i // 250}.{i % 250}"}
                )
            ).status_code
            for i in range(BURST + 50)
        ]
    assert statuses[0] == 200
    assert statuses[-1] == 429
