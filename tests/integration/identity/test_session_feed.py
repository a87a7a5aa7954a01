"""Identity's feed of changed sessions, which every token verifier reads (issue 12, hole 6):
who changed, to which version and roles, for as long as a token from before may live."""

from __future__ import annotations

from typing import Any


async def _feed(identity: Any, since: float = 0) -> dict[str, Any]:
    answer = await identity.http.get(
        "/internal/sessions", params={"since": since}, headers=identity.platform
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_feed_is_for_the_platform_and_the_services_only(identity: Any) -> None:
    """It names users and their roles: without the platform credential or the service
    credential (what a dedicated shop's services hold) there is no answer."""
    assert (await identity.http.get("/internal/sessions")).status_code == 401
    identity.app.state.service_token = "services-of-this-namespace"
    guessed = {"x-shopfleet-service-token": "guessed"}
    assert (await identity.http.get("/internal/sessions", headers=guessed)).status_code == 401
    right = {"x-shopfleet-service-token": "services-of-this-namespace"}
    assert (await identity.http.get("/internal/sessions", headers=right)).status_code == 200


async def test_a_role_change_and_a_logout_are_served_until_older_tokens_expired(
    identity: Any,
) -> None:
    await identity.create_shop("acme")
    ann = await identity.register("acme", "ann@example.com")
    assert (await _feed(identity))["changes"] == []

    admin = identity.bearer(await identity.admin_token("acme"))
    roles = identity.api("acme", f"/users/{ann['id']}/roles")
    granted = await identity.http.put(roles, headers=admin, json={"roles": ["Admin", "User"]})
    assert granted.status_code == 200, granted.text
    (change,) = (await _feed(identity))["changes"]
    assert change["user_id"] == ann["id"] and change["shop"] == "acme"
    assert change["roles"] == ["Admin", "User"] and change["version"] == 0

    session = await identity.login("acme", "ann@example.com")
    out = await identity.http.post(
        identity.api("acme", "/auth/logout"), json={"refresh_token": session["refresh_token"]}
    )
    assert out.status_code == 204
    feed = await _feed(identity)
    (change,) = feed["changes"]
    assert change["version"] == 1
    assert (await _feed(identity, since=feed["as_of"]))["changes"] == []

    identity.clock.advance(feed["retention_s"] + 1)  # every token from before has expired
    assert (await _feed(identity))["changes"] == []
