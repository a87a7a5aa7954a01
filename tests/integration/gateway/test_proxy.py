"""The gateway in front of a small upstream app, over the local invoker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from shopfleet.gateway.app import Gateway
from shopfleet.gateway.routes import RouteFile
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.auth import SHOP_API_PREFIX
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.contracts.credentials import SHOP_PLATFORM_CREDENTIAL, derived_credential
from shopfleet.kit.contracts.routes import Route
from shopfleet.kit.errors import install_problem_handlers
from shopfleet.kit.settings import PlatformSettings

PLATFORM_TOKEN = "platform-secret-for-tests"


def upstream_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get(SHOP_API_PREFIX + "/users/echo", operation_id="echo_get")
    @app.post(SHOP_API_PREFIX + "/users/echo", operation_id="echo_post")
    async def echo(request: Request, shop: str) -> Response:
        body = await request.body()
        echo = {
            "shop": shop,
            "method": request.method,
            "query": request.url.query,
            "len": len(body),
            "xff": request.headers.get("x-forwarded-for"),
            "rid": request.headers.get("x-request-id"),
            "auth": "authorization" in request.headers,
        }
        return Response(
            content=json.dumps(echo),
            media_type="application/json",
            headers={"etag": '"v1"', "connection": "close"},
        )

    @app.get(SHOP_API_PREFIX + "/users/slow")
    async def slow() -> dict:
        await asyncio.sleep(5)
        return {}

    @app.get(SHOP_API_PREFIX + "/users/crash")
    async def crash() -> dict:
        raise RuntimeError("boom")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict:
        return app.openapi()

    return app


class Harness:
    def __init__(self, tmp: Path, mint, **overrides: object) -> None:
        platform = PlatformSettings(
            data_dir=tmp, platform_token=SecretStr(PLATFORM_TOKEN), access_log=False
        )
        self.settings = GatewaySettings(
            platform=platform, routes_reload_s=0.05, upstream_timeout_s=0.5, **overrides
        )
        self.routes = RouteFile(self.settings.resolved_routes_file())
        self.routes.put("acme", Route(hosts=["shop.acme.test"]))
        self.routes.put("beta", Route())
        self.routes.put("closed", Route(suspended=True, suspended_message="Closed for inventory."))
        invoker = LocalInvoker()
        invoker.register("identity", upstream_app())
        blocks = Blocks(state=None, pubsub=None, invoker=invoker, secrets=None)  # type: ignore[arg-type]
        self.gateway = Gateway(
            self.settings,
            blocks,
            services=frozenset({"identity", "catalog"}),
            verifier=mint.verifier(),
        )


@asynccontextmanager
async def serving(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    platform_app = harness.gateway.platform_app
    async with platform_app.router.lifespan_context(platform_app):
        transport = httpx.ASGITransport(harness.gateway, client=("203.0.113.7", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            yield client


@pytest.fixture
async def gw(tmp_path: Path, mint) -> AsyncIterator[tuple[httpx.AsyncClient, Harness]]:
    harness = Harness(tmp_path, mint)
    async with serving(harness) as client:
        yield client, harness


async def test_forwards_by_path_and_by_host(gw) -> None:
    client, _ = gw
    by_path = await client.post("/shops/acme/api/v1/users/echo?x=1", content=b"hello")
    assert by_path.status_code == 200
    assert by_path.json() == {
        "shop": "acme",
        "method": "POST",
        "query": "x=1",
        "len": 5,
        "xff": "203.0.113.7",
        "rid": by_path.headers["x-request-id"],
        "auth": False,
    }
    assert by_path.headers["etag"] == '"v1"'
    assert "connection" not in by_path.headers  # hop-by-hop headers stop at the gateway
    assert len(by_path.headers.get_list("x-request-id")) == 1
    by_host = await client.get("/api/v1/users/echo", headers={"host": "shop.acme.test:8000"})
    assert by_host.status_code == 200 and by_host.json()["shop"] == "acme"


async def test_client_cannot_spoof_its_address_or_request_id_format(gw) -> None:
    client, _ = gw
    answer = await client.get(
        "/shops/acme/api/v1/users/echo",
        headers={"x-forwarded-for": "1.2.3.4", "x-request-id": "bad id!"},
    )
    assert answer.json()["xff"] == "203.0.113.7"
    assert answer.headers["x-request-id"] != "bad id!"
    kept = await client.get("/shops/acme/api/v1/users/echo", headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123" and kept.json()["rid"] == "abc-123"


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [
        ("/shops/nowhere/api/v1/users/echo", 404, "shop-not-found"),
        ("/shops/acme/api/v1/nothing-here", 404, "not-found"),
        (
            "/shops/acme/api/v1/products",
            503,
            "service-unavailable",
        ),  # catalog declared, not running
        ("/shops/acme/api/v1/orders", 404, "not-found"),  # orders is not part of this deployment
        ("/shops/acme/elsewhere", 404, "not-found"),
        ("/api/v1/users/echo", 404, "not-found"),  # a host that is no shop's
        ("/shops/closed/api/v1/users/echo", 503, "shop-suspended"),
    ],
)
async def test_what_cannot_be_routed_is_a_problem(gw, path: str, status: int, slug: str) -> None:
    client, _ = gw
    answer = await client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status and body["detail"]


async def test_slow_is_504_and_crash_is_a_problem(gw) -> None:
    client, _ = gw
    slow = await client.get("/shops/acme/api/v1/users/slow")
    assert slow.status_code == 504 and "did not answer" in slow.json()["detail"]
    crash = await client.get("/shops/acme/api/v1/users/crash")
    assert crash.status_code == 500 and crash.headers["content-type"] == "application/problem+json"


async def test_unavailable_upstream_is_503_with_retry_after(gw) -> None:
    client, harness = gw
    harness.gateway.proxy.invoker.unregister("identity")  # type: ignore[attr-defined]
    answer = await client.get("/shops/acme/api/v1/users/echo")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"


async def test_tokens_are_checked_and_bound_to_their_shop(gw, mint) -> None:
    client, _ = gw
    good = await client.get(
        "/shops/acme/api/v1/users/echo",
        headers={"authorization": f"Bearer {mint.token(shop='acme')}"},
    )
    assert good.status_code == 200 and good.json()["auth"] is True
    other_shop = await client.get(
        "/shops/beta/api/v1/users/echo",
        headers={"authorization": f"Bearer {mint.token(shop='acme')}"},
    )
    assert other_shop.status_code == 404
    platform_admin = mint.token(shop="acme", roles=["PlatformAdmin"])
    assert (
        await client.get(
            "/shops/beta/api/v1/users/echo", headers={"authorization": f"Bearer {platform_admin}"}
        )
    ).status_code == 200
    for bad in ("Bearer not-a-jwt", "Basic abc", "Bearer "):
        answer = await client.get("/shops/acme/api/v1/users/echo", headers={"authorization": bad})
        assert answer.status_code == 401, bad
        assert answer.headers["www-authenticate"].startswith("Bearer")
    expired = mint.token(shop="acme", ttl_s=-60)
    answer = await client.get(
        "/shops/acme/api/v1/users/echo", headers={"authorization": f"Bearer {expired}"}
    )
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


async def test_rate_limit_per_client_answers_429_with_retry_after(tmp_path: Path, mint) -> None:
    harness = Harness(tmp_path, mint, client_rate_per_s=1, client_burst=3)
    async with serving(harness) as client:
        statuses = [
            (await client.get("/shops/acme/api/v1/users/echo")).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/shops/acme/api/v1/users/echo")
        assert limited.headers["retry-after"] == "1"
        other_shop = await client.get("/shops/beta/api/v1/users/echo")
        assert other_shop.status_code == 200  # limits are per client *and* shop


async def test_shop_quota_from_the_route_table(tmp_path: Path, mint) -> None:
    harness = Harness(tmp_path, mint)
    harness.routes.put("tiny", Route(requests_per_minute=2))
    async with serving(harness) as client:
        statuses = [
            (await client.get("/shops/tiny/api/v1/users/echo")).status_code for _ in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_default_limits_let_one_client_make_50_requests_per_second(gw) -> None:
    client, _ = gw
    answers = await asyncio.gather(
        *(client.get("/shops/acme/api/v1/users/echo") for _ in range(60))
    )
    assert [a.status_code for a in answers] == [200] * 60


async def test_oversized_bodies_are_refused(tmp_path: Path, mint) -> None:
    harness = Harness(tmp_path, mint, max_body_bytes=1024)
    async with serving(harness) as client:
        answer = await client.post("/shops/acme/api/v1/users/echo", content=b"x" * 2000)
    assert (
        answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    )


async def test_route_table_reloads_without_restart(gw) -> None:
    client, harness = gw
    assert (await client.get("/shops/newcomer/api/v1/users/echo")).status_code == 404
    RouteFile(harness.settings.resolved_routes_file()).put("newcomer", Route())
    for _ in range(50):
        await asyncio.sleep(0.05)
        if (await client.get("/shops/newcomer/api/v1/users/echo")).status_code == 200:
            break
    else:
        pytest.fail("the new route never took effect")


async def test_internal_routes_api_needs_the_platform_credential(gw) -> None:
    client, _ = gw
    body = {"hosts": ["gamma.test"]}
    assert (await client.put("/internal/routes/gamma", json=body)).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert (await client.put("/internal/routes/gamma", json=body, headers=wrong)).status_code == 401
    auth = {"authorization": f"Bearer {PLATFORM_TOKEN}"}
    assert (await client.put("/internal/routes/gamma", json=body, headers=auth)).status_code == 200
    clash = await client.put("/internal/routes/delta", json={"hosts": ["GAMMA.test"]}, headers=auth)
    assert clash.status_code == 409 and clash.json()["type"].endswith("/host-taken")
    bad = await client.put("/internal/routes/Bad_Slug", json=body, headers=auth)
    assert bad.status_code == 422
    unknown_field = await client.put("/internal/routes/gamma", json={"hostz": []}, headers=auth)
    assert (
        unknown_field.status_code == 422
        and unknown_field.json()["errors"][0]["field"] == "body.hostz"
    )
    listed = await client.get("/internal/routes", headers=auth)
    assert "gamma" in listed.json()["shops"]
    assert (await client.delete("/internal/routes/gamma", headers=auth)).status_code == 204
    assert (await client.delete("/internal/routes/gamma", headers=auth)).status_code == 404


async def test_cors_preflight_is_answered(gw) -> None:
    client, _ = gw
    answer = await client.options(
        "/shops/acme/api/v1/users/echo",
        headers={"origin": "https://storefront.example", "access-control-request-method": "POST"},
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] in ("*", "https://storefront.example")


async def test_openapi_aggregates_the_running_services(gw) -> None:
    client, _ = gw
    doc = (await client.get("/openapi.json")).json()
    assert "/shops/{shop}/api/v1/users/echo" in doc["paths"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert (await client.get("/docs")).status_code == 200


async def test_platform_endpoints(gw) -> None:
    client, _ = gw
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    metrics = await client.get("/metrics")  # served on their own port (kit/telemetry.py)
    assert metrics.status_code == 404
    missing = await client.get("/no/such/thing")
    assert (
        missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    )


async def test_a_dedicated_shops_tenant_is_bootstrapped_in_its_own_identity(gw) -> None:
    client, harness = gw
    invoker = harness.gateway.proxy.invoker  # type: ignore[attr-defined]
    seen: list[str] = []

    credentials: dict[str, str | None] = {}

    def tenants_app(name: str) -> FastAPI:
        app = FastAPI()

        @app.post("/internal/tenants")
        async def bootstrap(request: Request) -> dict:
            seen.append(name)
            credentials[name] = request.headers.get("authorization")
            return {"identity": name}

        return app

    invoker.register("identity", tenants_app("pooled"))
    invoker.register("identity.shop-solo", tenants_app("dedicated"))
    harness.routes.put("solo", Route(tier="dedicated", namespace="shop-solo"))
    harness.gateway.routes.load()
    auth = {"authorization": f"Bearer {PLATFORM_TOKEN}"}
    for shop in ("solo", "acme"):
        body = {
            "shop": shop,
            "display_name": shop,
            "admin_email": "boss@example.com",
            "admin_password": "a long password",
        }
        answer = await client.post("/internal/tenants", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
    assert seen == ["dedicated", "pooled"]
    # The platform credential never leaves the platform namespace: a dedicated shop's
    # identity is offered the shop's own, derived from it (as the operator gives it).
    assert credentials["pooled"] == f"Bearer {PLATFORM_TOKEN}"
    shop_credential = derived_credential(PLATFORM_TOKEN, "solo", SHOP_PLATFORM_CREDENTIAL)
    assert credentials["dedicated"] == f"Bearer {shop_credential}"
    assert PLATFORM_TOKEN not in shop_credential


async def test_a_dedicated_shops_token_is_verified_with_its_own_identity(tmp_path: Path) -> None:
    """A dedicated shop's identity (`identity.shop-<name>`) signs its users' tokens with keys
    of its own: the gateway checks them with that identity's JWKS, and reads its session
    feed with the shop's own platform credential, never the platform's. (It checked every
    token with the platform identity's keys: every signed-in call to a dedicated shop was
    401 "signed with an unknown key".)"""
    from shopfleet.kit.contracts.sessions import SESSIONS_PATH
    from tests.support.tokens import TokenMint

    platform_mint, shop_mint = TokenMint(), TokenMint()
    feed_credentials: list[str | None] = []

    def identity(mint: TokenMint) -> FastAPI:
        app = upstream_app()  # `users` is identity's area

        @app.get("/.well-known/jwks.json")
        async def jwks() -> dict:
            return mint.jwks()

        @app.get(SESSIONS_PATH)
        async def sessions(request: Request) -> dict:
            feed_credentials.append(request.headers.get("authorization"))
            return {"as_of": 0.0, "retention_s": 3600.0, "changes": []}

        return app

    platform = PlatformSettings(
        data_dir=tmp_path, platform_token=SecretStr(PLATFORM_TOKEN), access_log=False
    )
    settings = GatewaySettings(platform=platform, routes_reload_s=0.05)
    routes = RouteFile(settings.resolved_routes_file())
    routes.put("acme", Route(tier="dedicated", namespace="shop-acme"))
    routes.put("beta", Route())
    invoker = LocalInvoker()
    invoker.register("identity", identity(platform_mint))
    invoker.register("identity.shop-acme", identity(shop_mint))
    blocks = Blocks(state=None, pubsub=None, invoker=invoker, secrets=None)  # type: ignore[arg-type]
    gateway = Gateway(settings, blocks, services=frozenset({"identity", "catalog"}))
    harness = type("H", (), {"gateway": gateway})()
    async with serving(harness) as client:  # type: ignore[arg-type]

        async def call(shop: str, mint: TokenMint) -> int:
            token = mint.token(shop=shop)
            answer = await client.get(
                f"/shops/{shop}/api/v1/users/echo", headers={"authorization": f"Bearer {token}"}
            )
            return answer.status_code

        assert await call("acme", shop_mint) == 200
        assert await call("beta", platform_mint) == 200
        assert await call("acme", platform_mint) == 401  # the platform's keys: not this shop's
    shop_credential = derived_credential(PLATFORM_TOKEN, "acme", SHOP_PLATFORM_CREDENTIAL)
    assert f"Bearer {shop_credential}" in feed_credentials
    assert f"Bearer {PLATFORM_TOKEN}" in feed_credentials  # the platform identity's feed


async def test_a_tenant_waits_for_the_route_to_its_identity(gw) -> None:
    """The operator says which identity a tenant belongs in; while the gateway's route table
    (a ConfigMap the kubelet refreshes late) does not route the shop there yet, the gateway
    answers 503 instead of bootstrapping a new dedicated shop's tenant in the pooled
    identity, where its own identity never sees it (its admin's login: 404 "Shop does not
    exist")."""
    from shopfleet.kit.contracts.tenants import IDENTITY_APP_HEADER, ROUTE_NOT_LOADED

    client, harness = gw
    invoker = harness.gateway.proxy.invoker  # type: ignore[attr-defined]
    seen: list[str] = []

    def tenants_app(name: str) -> FastAPI:
        app = FastAPI()

        @app.post("/internal/tenants")
        async def bootstrap() -> dict:
            seen.append(name)
            return {"identity": name}

        return app

    invoker.register("identity", tenants_app("pooled"))
    invoker.register("identity.shop-late", tenants_app("dedicated"))
    headers = {
        "authorization": f"Bearer {PLATFORM_TOKEN}",
        IDENTITY_APP_HEADER: "identity.shop-late",
    }
    body = {
        "shop": "late",
        "display_name": "Late",
        "admin_email": "boss@example.com",
        "admin_password": "a long password",
    }
    early = await client.post("/internal/tenants", json=body, headers=headers)
    assert early.status_code == 503, early.text
    assert ROUTE_NOT_LOADED in early.json()["type"] and early.headers["retry-after"]
    assert seen == []
    harness.routes.put("late", Route(tier="dedicated", namespace="shop-late"))
    harness.gateway.routes.load()
    answer = await client.post("/internal/tenants", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert seen == ["dedicated"]
