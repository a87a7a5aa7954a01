"""Issue 12, hole 11 (first half): metrics are for the platform, not the public.

`/metrics` was served on the gateway's public port (and on every service's app port):
request counts per route and shop for anyone. Metrics now live on a port of their own,
which the gateway does not route and no public Service or Ingress exposes.
"""

from __future__ import annotations

import httpx

from shopfleet.dev.multiprocess import MultiProcessPlatform
from tests.security.conftest import Target, only


async def test_the_gateway_does_not_serve_metrics(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 11: GET /metrics through the gateway is a 404 problem."""
    await client.get("/healthz")
    answer = await client.get("/metrics")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "shopfleet_http_requests_total" not in answer.text


async def test_services_serve_metrics_on_their_metrics_port_only(target: Target) -> None:
    """Issue 12, hole 11: no service answers /metrics on its app port (which its sidecar
    reaches; a caller without the app token is refused before any route); each answers
    it on its own metrics port."""
    only(target, "multiprocess")
    assert isinstance(target.platform, MultiProcessPlatform)
    async with httpx.AsyncClient(timeout=30) as http:
        for name, part in target.platform.parts.items():
            on_app_port = await http.get(f"{part.url}/metrics")
            assert on_app_port.status_code in (401, 404), name
            assert "shopfleet_http_requests_total" not in on_app_port.text, name
            scraped = await http.get(part.metrics_url)
            assert scraped.status_code == 200, name
            assert "shopfleet_http_requests_total" in scraped.text, name
