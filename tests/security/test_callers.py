"""Who may call a service app: only its own sidecar, and on internal routes only a service.

Issue 12, hole 1, in depth: even with a path that gets past the gateway (or a caller that
reaches a pod's port or a sidecar directly), a service app answers only its own sidecar
(Dapr's app API token) and its service-to-service routes answer only other services (the
service credential). One mistake is not enough.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.kit.auth import PlatformCaller, PlatformOrServiceCaller
from shopfleet.platform import EmbeddedPlatform
from shopfleet.services import SERVICES
from tests.security.conftest import Target, UpstreamLog, only

SERVICE_ROUTES_PREFIX = "/internal/shops/"  # the kit guards everything under it

# What an attacker who reaches an app's port would like to call, per service.
DIRECT = {
    "orders": [
        ("POST", "/dapr/events/orders/payment.succeeded"),
        ("GET", "/dapr/subscribe"),
        ("GET", "/internal/shops/demo/orders/ord_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ],
    "cart": [("GET", "/internal/shops/demo/carts/u1"), ("GET", "/shops/demo/api/v1/cart")],
    "catalog": [
        ("POST", "/internal/shops/demo/reservations/ord_x/commit"),
        ("GET", "/shops/demo/api/v1/products"),
    ],
    "shipping": [("GET", "/internal/shops/demo/users/u1/addresses/a1")],
    "identity": [("GET", "/internal/shops/demo/settings"), ("GET", "/.well-known/jwks.json")],
    "payments": [("GET", "/dapr/subscribe")],
}


async def test_an_app_answers_only_its_own_sidecar(target: Target) -> None:
    """Issue 12, hole 1: a call to a service's own port that does not come through its
    sidecar (no app API token) is refused, `/dapr/events/*` and `/dapr/subscribe` included;
    the probes kubelet makes directly still answer."""
    only(target, "multiprocess")
    platform = target.platform
    assert isinstance(platform, MultiProcessPlatform)
    async with httpx.AsyncClient(timeout=30) as http:
        for service, calls in DIRECT.items():
            url = platform.parts[service].url
            for method, path in calls:
                for token in (None, "guessed"):
                    headers = {"dapr-api-token": token} if token else {}
                    answer = await http.request(method, url + path, headers=headers, content=b"{}")
                    assert answer.status_code == 401, (service, path, answer.text)
                    assert answer.json()["type"].endswith("/sidecar-only")
            health = await http.get(url + "/healthz")
            assert health.status_code == 200


# (route's service, method, path, a caller the grants let through to it)
SERVICE_ROUTES = [
    ("cart", "GET", "/internal/shops/demo/carts/u1", "orders"),
    ("shipping", "GET", "/internal/shops/demo/users/u1/addresses/a1", "orders"),
    ("catalog", "POST", "/internal/shops/demo/reservations/ord_x/commit", "orders"),
    ("orders", "GET", "/internal/shops/demo/orders/ord_01HZZZZZZZZZZZZZZZZZZZZZZZ", "payments"),
    ("identity", "GET", "/internal/shops/demo/settings", "catalog"),
]


@pytest.mark.parametrize(("service", "method", "path", "granted"), SERVICE_ROUTES)
async def test_internal_routes_need_the_service_credential_even_from_a_granted_caller(
    target: Target, service: str, method: str, path: str, granted: str
) -> None:
    """Issue 12, hole 1: a caller that gets past access control (it reached the sidecar of
    an app that may call the route) still needs the service credential, which only the
    services have: the app refuses the call itself."""
    platform = target.platform
    if isinstance(platform, MultiProcessPlatform):
        sidecar = f"http://127.0.0.1:{platform.parts[granted].http_port}"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.request(
                method,
                f"{sidecar}/v1.0/invoke/{service}/method{path}",
                headers={"x-shopfleet-service-token": "guessed"},
                content=b"{}",
            )
        assert answer.status_code == 401, answer.text
        assert answer.json()["type"].endswith("/service-only")
        return
    assert isinstance(platform, EmbeddedPlatform) and platform.blocks is not None
    # In one process the gateway's invoker is the one without the credential.
    answer = await platform.blocks.invoker.invoke(service, method, path, body=b"{}")
    assert answer.status == 401, answer.body
    assert answer.json()["type"].endswith("/service-only")


@pytest.mark.parametrize(("service", "method", "path", "granted"), SERVICE_ROUTES)
async def test_access_control_denies_what_a_caller_was_not_granted(
    target: Target, upstream: UpstreamLog, service: str, method: str, path: str, granted: str
) -> None:
    """Issue 12, hole 1: Dapr's accessControl, deny by default: the gateway's sidecar (and
    that of an app without a grant) cannot invoke a service-to-service route at all; the
    called app never sees the request."""
    only(target, "multiprocess")
    platform = target.platform
    assert isinstance(platform, MultiProcessPlatform)
    callers = ["gateway", *(name for name in ("notifications", "categories") if name != granted)]
    async with httpx.AsyncClient(timeout=30) as http:
        for caller in callers:
            sidecar = f"http://127.0.0.1:{platform.parts[caller].http_port}"
            answer = await http.request(
                method, f"{sidecar}/v1.0/invoke/{service}/method{path}", content=b"{}"
            )
            assert answer.status_code == 403, (caller, answer.text)
            assert "access control policy has denied" in answer.json()["message"]
    assert await upstream.deliveries() == []


async def test_every_internal_route_is_guarded(target: Target) -> None:
    """Issue 12, hole 1: a new internal route cannot forget its guard: every `/internal/`
    route of every service is a service-to-service route (`/internal/shops/...`, guarded by
    the kit for every app) or a platform route that takes the platform credential."""
    only(target, "embedded")
    platform = target.platform
    assert isinstance(platform, EmbeddedPlatform)
    assert set(platform.apps) == set(SERVICES)
    unguarded = []
    for name, app in platform.apps.items():
        for route in app.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith("/internal/"):
                continue
            takes_platform_credential = any(
                d.call in (PlatformCaller.dependency, PlatformOrServiceCaller.dependency)
                for d in route.dependant.dependencies
            )
            if not route.path.startswith(SERVICE_ROUTES_PREFIX) and not takes_platform_credential:
                unguarded.append(f"{name}: {route.methods} {route.path}")
    assert not unguarded, f"internal routes without a guard: {unguarded}"
