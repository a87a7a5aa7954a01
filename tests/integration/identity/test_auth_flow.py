"""Register, log in, use and refresh tokens, log out: as a shopper's client does."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

from shopfleet.kit.contracts.events import USER_REGISTERED


async def test_register_login_me_refresh_logout(identity: Any, pubsub: Any) -> None:
    await identity.create_shop("acme")
    user = await identity.register("acme", "Ann@Example.COM")
    assert user["email"] == "ann@example.com" and user["roles"] == ["User"]
    assert "password_hash" not in user and user["shop"] == "acme"

    tokens = await identity.login("acme", "ANN@example.com")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900 and tokens["refresh_expires_in"] == 30 * 86400
    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["sub"] == user["id"] and claims["shop"] == "acme" and claims["roles"] == ["User"]
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]
    assert claims["iss"] == "shopfleet" and claims["aud"] == "shopfleet"

    me = await identity.http.get(
        identity.api("acme", "/users/me"), headers=identity.bearer(tokens["access_token"])
    )
    assert me.status_code == 200 and me.json()["id"] == user["id"]

    refreshed = await identity.http.post(
        identity.api("acme", "/auth/refresh"), json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refresh_token"] != tokens["refresh_token"]
    me = await identity.http.get(
        identity.api("acme", "/users/me"), headers=identity.bearer(pair["access_token"])
    )
    assert me.status_code == 200

    for _ in range(2):  # logout is idempotent
        out = await identity.http.post(
            identity.api("acme", "/auth/logout"), json={"refresh_token": pair["refresh_token"]}
        )
        assert out.status_code == 204
    again = await identity.http.post(
        identity.api("acme", "/auth/refresh"), json={"refresh_token": pair["refresh_token"]}
    )
    identity.assert_problem(again, 401)

    events = await pubsub.wait_for(USER_REGISTERED, count=2)  # the admin, then Ann
    ann = next(e for e in events if e.data["user_id"] == user["id"])
    assert ann.shop == "acme" and ann.data["email"] == "ann@example.com"


async def test_reusing_a_spent_refresh_token_revokes_the_family(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    first = (await identity.login("acme", "ann@example.com"))["refresh_token"]
    other_session = (await identity.login("acme", "ann@example.com"))["refresh_token"]
    refresh = identity.api("acme", "/auth/refresh")

    second = (await identity.http.post(refresh, json={"refresh_token": first})).json()
    reuse = await identity.http.post(refresh, json={"refresh_token": first})
    body = identity.assert_problem(reuse, 401)
    assert "log in again" in body["detail"]
    # The thief (or the victim) holding the newer token is out too.
    identity.assert_problem(
        await identity.http.post(refresh, json={"refresh_token": second["refresh_token"]}), 401
    )
    # Another family (another device) is untouched.
    assert (
        await identity.http.post(refresh, json={"refresh_token": other_session})
    ).status_code == 200


async def test_concurrent_refresh_with_one_token_has_one_winner(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    token = (await identity.login("acme", "ann@example.com"))["refresh_token"]
    refresh = identity.api("acme", "/auth/refresh")

    answers = await asyncio.gather(
        *(identity.http.post(refresh, json={"refresh_token": token}) for _ in range(4))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 401, 401, 401], [a.text for a in answers]
    # The losers presented a spent token, which is what theft looks like: the family ends,
    # so the winner's new refresh token is revoked too, and its access token with it (it
    # may be the thief's; issue 12, hole 6).
    winner = next(a.json() for a in answers if a.status_code == 200)
    again = await identity.http.post(refresh, json={"refresh_token": winner["refresh_token"]})
    identity.assert_problem(again, 401)
    me = identity.api("acme", "/users/me")
    ended = await identity.http.get(me, headers=identity.bearer(winner["access_token"]))
    identity.assert_problem(ended, 401)


async def test_refresh_token_rejected_when_unknown_expired_or_of_another_shop(
    identity: Any,
) -> None:
    await identity.create_shop("acme")
    await identity.create_shop("other")
    await identity.register("acme", "ann@example.com")
    tokens = await identity.login("acme", "ann@example.com")

    for shop, token in [("acme", "not-a-token"), ("other", tokens["refresh_token"])]:
        answer = await identity.http.post(
            identity.api(shop, "/auth/refresh"), json={"refresh_token": token}
        )
        identity.assert_problem(answer, 401)

    identity.clock.advance(30 * 86400 + 1)
    expired = await identity.http.post(
        identity.api("acme", "/auth/refresh"), json={"refresh_token": tokens["refresh_token"]}
    )
    assert "expired" in identity.assert_problem(expired, 401)["detail"]


async def test_wrong_password_and_unknown_email_look_the_same(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    url = identity.api("acme", "/auth/login")
    wrong = await identity.http.post(url, json={"email": "ann@example.com", "password": "nope"})
    unknown = await identity.http.post(url, json={"email": "bob@example.com", "password": "nope"})
    assert (
        identity.assert_problem(wrong, 401)["detail"]
        == identity.assert_problem(unknown, 401)["detail"]
    )
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_email_is_unique_per_shop_not_globally(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.create_shop("other")
    one = await identity.register("acme", "ann@example.com")
    two = await identity.register("other", "ann@example.com")
    assert one["id"] != two["id"]

    taken = await identity.http.post(
        identity.api("acme", "/auth/register"),
        json={"email": "ANN@example.com", "password": "x" * 10, "display_name": "Ann"},
    )
    assert identity.assert_problem(taken, 409)["type"].endswith("/email-taken")
    # Each shop's Ann logs in with her own password, to her own shop.
    claims = jwt.decode(
        (await identity.login("other", "ann@example.com"))["access_token"],
        options={"verify_signature": False},
    )
    assert claims["shop"] == "other" and claims["sub"] == two["id"]


async def test_unknown_shop_is_404(identity: Any) -> None:
    register = await identity.http.post(
        identity.api("nowhere", "/auth/register"),
        json={"email": "ann@example.com", "password": "x" * 10, "display_name": "Ann"},
    )
    identity.assert_problem(register, 404)
    login = await identity.http.post(
        identity.api("nowhere", "/auth/login"), json={"email": "a@example.com", "password": "x"}
    )
    identity.assert_problem(login, 404)


async def test_a_token_of_shop_a_gets_404_in_shop_b(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.create_shop("other")
    token = await identity.user_token("acme", "ann@example.com")
    admin = await identity.admin_token("acme")
    for url, auth in [("/users/me", token), ("/users", admin)]:
        answer = await identity.http.get(identity.api("other", url), headers=identity.bearer(auth))
        identity.assert_problem(answer, 404)
