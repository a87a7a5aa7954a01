"""Bad input gets a 4xx problem+json naming each offending field; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

GOOD = {"email": "ann@example.com", "password": "x" * 10, "display_name": "Ann"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["body.email", "body.password", "body.display_name"]),
        (GOOD | {"email": "not-an-email"}, ["body.email"]),
        (GOOD | {"email": "a" * 250 + "@example.com"}, ["body.email"]),
        (GOOD | {"password": "short"}, ["body.password"]),
        (GOOD | {"password": "x" * 257}, ["body.password"]),
        (GOOD | {"display_name": ""}, ["body.display_name"]),
        (GOOD | {"display_name": "d" * 101}, ["body.display_name"]),
        (
            GOOD | {"email": 42, "password": ["x"], "display_name": None},
            ["body.email", "body.password", "body.display_name"],
        ),
        (GOOD | {"is_admin": True}, ["body.is_admin"]),
        (
            GOOD | {"display_name": "Ann\u0000"},
            ["body.display_name"],
        ),  # PostgreSQL cannot store NUL
        (["not", "an", "object"], ["body"]),
    ],
)
async def test_register_rejects_bad_fields(identity: Any, body: Any, fields: list[str]) -> None:
    await identity.create_shop("acme")
    answer = await identity.http.post(identity.api("acme", "/auth/register"), json=body)
    identity.assert_problem(answer, 422, *fields)


async def test_malformed_json_is_a_422_naming_the_body(identity: Any) -> None:
    await identity.create_shop("acme")
    for path in ("/auth/register", "/auth/login", "/auth/refresh"):
        answer = await identity.http.post(
            identity.api("acme", path),
            content=b'{"email": "ann@example.com",',
            headers={"Content-Type": "application/json"},
        )
        body = identity.assert_problem(answer, 422)
        assert "not valid JSON" in body["detail"]


async def test_login_refresh_and_profile_reject_bad_fields(identity: Any) -> None:
    await identity.create_shop("acme")
    token = await identity.user_token("acme", "ann@example.com")
    cases = [
        ("post", "/auth/login", {"email": "ann@example.com"}, ["body.password"]),
        ("post", "/auth/login", {"email": "x", "password": "p"}, ["body.email"]),
        (
            "post",
            "/auth/login",
            {"email": "ann@example.com", "password": "p" * 257},
            ["body.password"],
        ),
        (
            "post",
            "/auth/login",
            {"email": "ann@example.com", "password": "p", "remember": 1},
            ["body.remember"],
        ),
        ("post", "/auth/refresh", {"refresh_token": 12}, ["body.refresh_token"]),
        ("post", "/auth/refresh", {"refresh_token": "t" * 300}, ["body.refresh_token"]),
        ("post", "/auth/logout", {}, ["body.refresh_token"]),
        ("patch", "/users/me", {"display_name": "d" * 101}, ["body.display_name"]),
        ("patch", "/users/me", {"roles": ["Admin"]}, ["body.roles"]),
        ("patch", "/users/me", {"password": "short", "current_password": "x"}, ["body.password"]),
    ]
    for method, path, body, fields in cases:
        answer = await identity.http.request(
            method, identity.api("acme", path), json=body, headers=identity.bearer(token)
        )
        identity.assert_problem(answer, 422, *fields)


async def test_a_bad_shop_slug_is_a_422_naming_the_path(identity: Any) -> None:
    answer = await identity.http.post(
        identity.api("Not_A_Slug", "/auth/login"), json={"email": "a@example.com", "password": "x"}
    )
    identity.assert_problem(answer, 422, "path.shop")


async def test_control_characters_never_reach_the_database(identity: Any) -> None:
    await identity.create_shop("acme")
    auth = identity.bearer(await identity.admin_token("acme"))
    listing = await identity.http.get(
        identity.api("acme", "/users"), headers=auth, params={"email": "a\x00"}
    )
    identity.assert_problem(listing, 422, "query.email")
    login = await identity.http.post(
        identity.api("acme", "/auth/login"), json={"email": "a\u0000@example.com", "password": "x"}
    )
    identity.assert_problem(login, 422, "body.email")
    tenant = identity.tenant_body("bcme") | {"display_name": "Shop\u0000"}
    answer = await identity.http.post("/internal/tenants", headers=identity.platform, json=tenant)
    identity.assert_problem(answer, 422, "body.display_name")


async def test_tenant_bootstrap_rejects_bad_fields(identity: Any) -> None:
    body = identity.tenant_body("acme") | {
        "currency": "XYZ",
        "admin_password": "short",
        "tier": "gold",
    }
    answer = await identity.http.post("/internal/tenants", headers=identity.platform, json=body)
    identity.assert_problem(answer, 422, "body.currency", "body.admin_password", "body.tier")
