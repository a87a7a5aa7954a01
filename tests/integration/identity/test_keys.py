"""Signing keys: persisted, published as a JWKS, rotated without breaking live tokens."""

from __future__ import annotations

from typing import Any

import jwt

from shopfleet.identity.tokens import rotate_signing_key


async def _jwks_kids(identity: Any) -> list[str]:
    answer = await identity.http.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=60"
    return [key["kid"] for key in answer.json()["keys"]]


async def test_jwks_publishes_the_active_key(identity: Any) -> None:
    answer = await identity.http.get("/.well-known/jwks.json")
    (key,) = answer.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert "d" not in key and "p" not in key  # public parts only
    await identity.create_shop("acme")
    token = await identity.admin_token("acme")
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    # The published key verifies the token, as the gateway will do.
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="shopfleet", issuer="shopfleet"
    )
    assert claims["shop"] == "acme"


async def test_the_key_survives_a_restart(identity: Any, start_app: Any) -> None:
    before = await _jwks_kids(identity)
    _, http = await start_app()  # a second replica on the same database
    after = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in after] == before


async def test_a_rotated_key_stays_published_until_its_tokens_expire(identity: Any) -> None:
    await identity.create_shop("acme")
    old_token = await identity.admin_token("acme")
    (old_kid,) = await _jwks_kids(identity)

    async with identity.app.state.db.session() as session:  # as the CLI does
        new_key = await rotate_signing_key(session, now=identity.app.state.identity.now())
    await identity.app.state.identity.keys.reload()  # the periodic reload, now

    assert await _jwks_kids(identity) == [new_key.kid, old_kid]
    new_token = await identity.admin_token("acme")
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    me = identity.api("acme", "/users/me")
    for token in (old_token, new_token):  # both verify while both are published
        assert (await identity.http.get(me, headers=identity.bearer(token))).status_code == 200

    identity.clock.advance(900 + 50)  # access_token_ttl_s + 60 s leeway: not yet
    await identity.app.state.identity.keys.reload()
    assert await _jwks_kids(identity) == [new_key.kid, old_kid]
    identity.clock.advance(11)  # now past it
    await identity.app.state.identity.keys.reload()
    assert await _jwks_kids(identity) == [new_key.kid]


async def test_a_key_past_its_age_is_rotated_on_reload(identity: Any) -> None:
    (first,) = await _jwks_kids(identity)
    identity.clock.advance(90 * 86400 + 1)  # signing_key_rotation_days
    await identity.app.state.identity.keys.reload()
    kids = await _jwks_kids(identity)
    assert len(kids) == 2 and kids[1] == first
