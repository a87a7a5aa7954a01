"""Tenant bootstrap: internal, platform credential only, idempotent, announced by an event."""

from __future__ import annotations

import asyncio
from typing import Any

from shopfleet.kit.contracts.events import SHOP_CREATED


async def test_bootstrap_creates_the_shop_and_its_admin_once(identity: Any, pubsub: Any) -> None:
    body = identity.tenant_body("acme")
    first = await identity.http.post("/internal/tenants", headers=identity.platform, json=body)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["created"] is True and created["shop"] == "acme" and created["currency"] == "EUR"

    again = await identity.http.post(
        "/internal/tenants",
        headers=identity.platform,
        json=body | {"admin_password": "another password"},
    )
    assert again.status_code == 200
    assert again.json() == created | {"created": False}

    read = await identity.http.get("/internal/tenants/acme", headers=identity.platform)
    assert read.status_code == 200 and read.json() == created | {"created": False}
    identity.assert_problem(
        await identity.http.get("/internal/tenants/nowhere", headers=identity.platform), 404
    )

    # The admin logs in with the first password, as an Admin of this shop only.
    tokens = await identity.login("acme", "admin@acme.example.com", identity.ADMIN_PASSWORD)
    me = await identity.http.get(
        identity.api("acme", "/users/me"), headers=identity.bearer(tokens["access_token"])
    )
    assert me.json()["roles"] == ["Admin"] and me.json()["id"] == created["admin_user_id"]

    events = await pubsub.wait_for(SHOP_CREATED)
    assert len(events) == 1 and events[0].shop == "acme"
    assert events[0].data["display_name"] == "Shop acme" and events[0].source == "identity"


async def test_concurrent_bootstraps_of_one_shop_create_it_once(identity: Any) -> None:
    body = identity.tenant_body("racer")
    answers = await asyncio.gather(
        *(
            identity.http.post("/internal/tenants", headers=identity.platform, json=body)
            for _ in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["admin_user_id"] for a in answers}) == 1


async def test_internal_endpoints_need_the_platform_credential(identity: Any) -> None:
    body = identity.tenant_body("acme")
    for headers in ({}, identity.bearer("wrong"), {"Authorization": "Basic x"}):
        answer = await identity.http.post("/internal/tenants", headers=headers, json=body)
        identity.assert_problem(answer, 401)
        identity.assert_problem(
            await identity.http.get("/internal/tenants/acme", headers=headers), 401
        )
    # Not even a shop Admin's token opens them.
    await identity.create_shop("acme")
    admin = identity.bearer(await identity.admin_token("acme"))
    identity.assert_problem(await identity.http.get("/internal/tenants/acme", headers=admin), 401)


async def test_internal_endpoints_are_off_without_a_platform_token(start_app: Any) -> None:
    from shopfleet.kit.settings import PlatformSettings

    _, http = await start_app(platform=PlatformSettings(platform_token=None))
    answer = await http.get("/internal/tenants/acme", headers={"Authorization": "Bearer x"})
    assert answer.status_code == 403


async def test_peers_read_shop_settings_without_the_platform_credential(identity) -> None:
    await identity.http.post(
        "/internal/tenants",
        headers=identity.platform,
        json={
            "shop": "peers",
            "display_name": "Peer shop",
            "currency": "JPY",
            "admin_email": "boss@peers.com",
            "admin_password": "a long admin secret",
        },
    )
    answer = await identity.http.get("/internal/shops/peers/settings")
    assert answer.status_code == 200
    assert answer.json() == {
        "shop": "peers",
        "display_name": "Peer shop",
        "currency": "JPY",
        "quotas": {"products": None, "orders_per_day": None},
    }
    identity.assert_problem(await identity.http.get("/internal/shops/nobody/settings"), 404)
