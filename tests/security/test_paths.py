"""Path attacks through the gateway: traversal to internal routes and to the sidecar.

Issue 12, hole 1 (critical). In Dapr mode a path like
`/shops/demo/api/v1/products/../../../../../../../shipping/method/internal/...` reached
shipping's internal routes, catalog's reservations, a forged `payment.succeeded` delivery
and the sidecar's own API: the gateway forwarded the decoded path and a base-URL join (or
the sidecar's path cleaning) removed the dot segments. Every attack here must be refused
by the gateway before routing (400 problem+json), and nothing may reach a service app.
"""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import API, Target, UpstreamLog
from tests.support.rawhttp import raw_request

# Where a traversal would like to land, relative to the gateway's upstream path root.
INTERNAL_TARGETS = [
    ("shipping", "internal/shops/demo/users/u1/addresses/a1"),
    ("cart", "internal/shops/demo/carts/u1"),
    ("catalog", "internal/shops/demo/reservations/ord_x/commit"),
    ("orders", "dapr/events/orders/payment.succeeded"),
    ("orders", "dapr/subscribe"),
    ("catalog", "v1.0/publish/pubsub/payment.succeeded"),
    ("payments", "v1.0/secrets/secretstore/shop-demo"),
]

# Ways to say "up one level".
UP = [
    "../",
    "..%2f",
    "..%2F",
    "%2e%2e/",
    "%2E%2e%2F",
    ".%2e/",
    "%2e./",
    "..%5c",
    "..%5C",
    "..\\",
    "%252e%252e%252f",  # double encoding
    "%c0%ae%c0%ae/",  # overlong UTF-8 dots
    "%c0%ae%c0%ae%c0%af",  # overlong UTF-8 dots and slash
    "..;/",  # a ';' parameter on the dot segment
    "..;x=1/",
    ".../",  # trailing dots
    "..%00/",  # NUL
    "./../",
]


def traversals() -> list[str]:
    attacks = []
    for service, target in INTERNAL_TARGETS:
        for up in UP:
            # Deep enough to climb out of /shops/demo/api/v1/products/ and of the sidecar's
            # /v1.0/invoke/<app>/method/, into the app's own root or the sidecar's.
            attacks.append(f"{API}/products/{up * 9}{target}")
            attacks.append(f"{API}/products/{up * 7}{service}/method/{target}")
    return attacks


OTHER_ATTACKS = [
    f"{API}/products/x%3Fadmin=1",  # '?' inside a segment
    f"{API}/products/x%3fadmin=1",
    f"{API}/products/x%23fragment",  # '#'
    f"{API}/products/x%2Finternal",  # an encoded slash
    f"{API}/products/x%2finternal",
    f"{API}/products/x%5Cinternal",  # an encoded backslash
    f"{API}/products/x\\internal",
    f"{API}/products/x%00",  # NUL
    f"{API}//products",  # an empty segment
    f"{API}/./products",
    f"{API}/%2e/products",
    f"{API}/products/%2E%2E",
    f"{API}/products/.",
    f"{API}/products/..",
    "/shops/demo/api/v1/products/%c0%ae%c0%ae",
    "/shops/demo/API/../api/v1/users",  # mixed case, then back down
    "/shops/demo/api/v1/cart/%2e%2e/%2e%2e/%2e%2e/%2e%2e/internal/shops/demo/carts/u1",
    "/shops/../shops/demo/api/v1/users",
    "/shops/demo%2F..%2Fother/api/v1/products",
]


async def test_every_traversal_is_refused_before_routing(
    target: Target, upstream: UpstreamLog
) -> None:
    """Issue 12, hole 1: dot segments in any encoding (raw, %2e, %2f, %5c, double encoded,
    overlong UTF-8, ';' parameters, trailing dots, NUL) are refused with 400 problem+json,
    and not one of them reaches a service app or a sidecar's own API."""
    attacks = traversals() + OTHER_ATTACKS
    wrong = []
    for path in attacks:
        for method in ("GET", "POST"):
            answer = await raw_request(
                target.url, method, path, body=b"{}" if method == "POST" else b""
            )
            problem = answer.headers.get("content-type", "")
            if answer.status != 400 or problem != "application/problem+json":
                wrong.append(f"{method} {path} -> {answer.status} {answer.body[:160]!r}")
    reached = await upstream.deliveries()
    assert reached == [], f"{len(reached)} attacks reached service apps: {reached[:20]}"
    assert not wrong, f"{len(wrong)} of {2 * len(attacks)} attacks not refused:\n" + "\n".join(
        wrong[:40]
    )


async def test_a_refusal_says_what_is_wrong(target: Target) -> None:
    """Issue 12, hole 1: the 400 is a problem that names the cause, so a client can fix it."""
    answer = await raw_request(target.url, "GET", f"{API}/products/..%2f..%2finternal")
    assert answer.status == 400
    problem = answer.json()
    assert isinstance(problem, dict)
    assert problem["status"] == 400
    assert "path" in problem["detail"].lower()


async def test_canonical_paths_still_route(
    target: Target, client: httpx.AsyncClient, upstream: UpstreamLog
) -> None:
    """Issue 12, hole 1: the checks refuse attacks only; ordinary requests go through, and
    what leaves the gateway is exactly the path that was routed."""
    page = await client.get(f"{API}/products", params={"limit": 2, "q": "a b/../c?#"})
    assert page.status_code == 200, page.text
    products = (await client.get(f"{API}/products", params={"limit": 1})).json()["items"]
    product_id = products[0]["id"]
    one = await raw_request(target.url, "GET", f"{API}/products/{product_id}")
    assert one.status == 200
    missing = await raw_request(target.url, "GET", f"{API}/products/prd_nothing%20here")
    assert missing.status in (404, 422)
    assert missing.headers["content-type"] == "application/problem+json"
    seen = [d for d in await upstream.deliveries() if d.app_id == "catalog"]
    paths = {d.path.split("?")[0] for d in seen}
    assert f"{API}/products/{product_id}" in paths
    assert all(p.startswith(f"{API}/") for p in paths), paths


@pytest.mark.parametrize(
    "header",
    ["dapr-api-token", "dapr-caller-app-id", "dapr-callee-app-id", "x-shopfleet-service-token"],
)
async def test_sidecar_and_service_headers_from_clients_are_dropped(
    target: Target, client: httpx.AsyncClient, header: str
) -> None:
    """Issue 12, hole 1: a client cannot pose as a sidecar or a service: the headers that
    carry those credentials never pass the gateway (a catalog route echoes nothing, so the
    proof is that an internal-only credential gets no further than a public route)."""
    answer = await client.get(f"{API}/products", params={"limit": 1}, headers={header: "forged"})
    assert answer.status_code == 200, answer.text
