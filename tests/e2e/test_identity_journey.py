"""Identity through the gateway: the README tour and the promises of DESIGN §5."""

from __future__ import annotations

import asyncio

import httpx

from shopfleet.platform import EmbeddedPlatform
from tests.support.platform import PLATFORM_TOKEN, Shopper, make_platform


async def test_register_login_me_refresh_logout(shopper: Shopper) -> None:
    registered = await shopper.register("ada@example.com")
    assert registered.status_code == 201, registered.text
    assert registered.json()["email"] == "ada@example.com"
    assert "password" not in registered.text and "hash" not in registered.text

    tokens = await shopper.tokens("ada@example.com")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = await shopper.client.get(f"{shopper.api}/users/me", headers=shopper.bearer(tokens))
    assert me.status_code == 200 and me.json()["roles"] == ["User"]

    renewed = await shopper.client.post(
        f"{shopper.api}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200
    fresh = renewed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert (
        await shopper.client.get(f"{shopper.api}/users/me", headers=shopper.bearer(fresh))
    ).status_code == 200

    out = await shopper.client.post(
        f"{shopper.api}/auth/logout", json={"refresh_token": fresh["refresh_token"]}
    )
    assert out.status_code == 204
    again = await shopper.client.post(
        f"{shopper.api}/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert again.status_code == 401


async def test_reusing_a_spent_refresh_token_revokes_the_family(shopper: Shopper) -> None:
    await shopper.register("eve@example.com")
    first = await shopper.tokens("eve@example.com")
    second = (
        await shopper.client.post(
            f"{shopper.api}/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
    ).json()
    replay = await shopper.client.post(
        f"{shopper.api}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    stolen_too = await shopper.client.post(
        f"{shopper.api}/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert stolen_too.status_code == 401  # the newer token of that family is dead as well


async def test_a_token_of_shop_a_is_refused_on_shop_b(
    platform: EmbeddedPlatform, client: httpx.AsyncClient
) -> None:
    auth = {"authorization": f"Bearer {PLATFORM_TOKEN}"}
    created = await client.post(
        "/internal/tenants",
        headers=auth,
        json={
            "shop": "beta",
            "display_name": "Beta",
            "currency": "USD",
            "admin_email": "boss@beta.com",
            "admin_password": "beta admin password",
        },
    )
    assert created.status_code == 201, created.text
    assert (
        await client.put("/internal/routes/beta", headers=auth, json={"hosts": ["beta.test"]})
    ).status_code == 200
    demo, beta = Shopper(client, "demo"), Shopper(client, "beta")
    await demo.register("mallory@example.com")
    demo_tokens = await demo.tokens("mallory@example.com")
    on_beta = await client.get(f"{beta.api}/users/me", headers=demo.bearer(demo_tokens))
    assert on_beta.status_code == 404
    by_host = await client.get(
        "/api/v1/users/me", headers={**demo.bearer(demo_tokens), "host": "beta.test"}
    )
    assert by_host.status_code == 404
    # the same email is a different account in another shop
    assert (await beta.register("mallory@example.com")).status_code == 201
    assert (await beta.login("mallory@example.com")).status_code == 200


async def test_a_user_gets_403_on_admin_routes_and_an_admin_gets_through(
    platform: EmbeddedPlatform, shopper: Shopper
) -> None:
    await shopper.register("user@example.com")
    user = await shopper.tokens("user@example.com")
    listing = await shopper.client.get(f"{shopper.api}/users", headers=shopper.bearer(user))
    assert listing.status_code == 403
    me = (await shopper.client.get(f"{shopper.api}/users/me", headers=shopper.bearer(user))).json()
    roles = await shopper.client.put(
        f"{shopper.api}/users/{me['id']}/roles",
        headers=shopper.bearer(user),
        json={"roles": ["Admin"]},
    )
    assert roles.status_code == 403

    assert platform.demo is not None
    admin = await shopper.tokens(platform.demo.admin_email, platform.demo.admin_password)
    listing = await shopper.client.get(f"{shopper.api}/users", headers=shopper.bearer(admin))
    assert listing.status_code == 200
    assert {u["email"] for u in listing.json()["items"]} >= {
        "user@example.com",
        platform.demo.shopper_email,
    }
    promoted = await shopper.client.put(
        f"{shopper.api}/users/{me['id']}/roles",
        headers=shopper.bearer(admin),
        json={"roles": ["Admin", "User"]},
    )
    assert promoted.status_code == 200 and set(promoted.json()["roles"]) == {"Admin", "User"}


async def test_bad_input_is_a_4xx_problem_naming_the_field(shopper: Shopper) -> None:
    url = f"{shopper.api}/auth/register"
    cases = [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "body"),
        ({"json": {"email": "a@example.com", "display_name": "A"}}, "body.password"),
        (
            {"json": {"email": "a@example.com", "password": "x" * 10_000, "display_name": "A"}},
            "body.password",
        ),
        (
            {"json": {"email": "not-an-email", "password": "a long password", "display_name": "A"}},
            "body.email",
        ),
        (
            {"json": {"email": "a@example.com", "password": 12345678901, "display_name": "A"}},
            "body.password",
        ),
        (
            {
                "json": {
                    "email": "a@example.com",
                    "password": "a long password",
                    "display_name": "A",
                    "admin": True,
                }
            },
            "body.admin",
        ),
        ({"json": ["a", "list"]}, "body"),
    ]
    for kwargs, field in cases:
        answer = await shopper.client.post(url, **kwargs)
        assert 400 <= answer.status_code < 500, (kwargs, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        fields = [error["field"] for error in answer.json().get("errors", [])]
        assert any(f.startswith(field) for f in fields), (field, answer.json())


async def test_login_throttling_answers_429_with_retry_after(shopper: Shopper) -> None:
    await shopper.register("target@example.com")
    statuses = [
        (await shopper.login("target@example.com", "wrong password!")).status_code for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    blocked = await shopper.login("target@example.com")  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


async def test_data_survives_a_restart(tmp_path) -> None:
    data = tmp_path / "data"
    for attempt in range(2):
        embedded = make_platform(data)
        async with embedded.running():
            transport = httpx.ASGITransport(embedded.gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                shopper = Shopper(client)
                if attempt == 0:
                    assert (await shopper.register("stays@example.com")).status_code == 201
                    tokens = await shopper.tokens("stays@example.com")
                else:
                    # the user, the signing key and the refresh token all survived
                    me = await client.get(f"{shopper.api}/users/me", headers=shopper.bearer(tokens))
                    assert me.status_code == 200 and me.json()["email"] == "stays@example.com"
                    again = await client.post(
                        f"{shopper.api}/auth/refresh",
                        json={"refresh_token": tokens["refresh_token"]},
                    )
                    assert again.status_code == 200


async def test_platform_endpoints_and_aggregated_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and all(key["kid"] for key in jwks["keys"])
    doc = (await client.get("/openapi.json")).json()
    for path in (
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/users/me",
        "/users",
        "/users/{user_id}/roles",
    ):
        assert f"/shops/{{shop}}/api/v1{path}" in doc["paths"], path
    assert not any(path.startswith("/internal") for path in doc["paths"])


async def test_concurrent_requests_are_served(shopper: Shopper) -> None:
    await shopper.register("busy@example.com")
    tokens = await shopper.tokens("busy@example.com")
    answers = await asyncio.gather(
        *(
            shopper.client.get(f"{shopper.api}/users/me", headers=shopper.bearer(tokens))
            for _ in range(50)
        )
    )
    assert {a.status_code for a in answers} == {200}
