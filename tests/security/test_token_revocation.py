"""Issue 12, hole 6: a change of roles, a password change or a logout must take effect on
the next request, not when the access token expires.

Seen before the fix: an Admin demoted by another Admin kept Admin rights with its access
token for up to 15 minutes, and could use that token to make itself Admin again.
"""

from __future__ import annotations

import uuid

import httpx

from tests.security.conftest import API, Target, only

PASSWORD = "a long password"


async def _new_user(client: httpx.AsyncClient, label: str) -> tuple[str, str]:
    """(id, email) of a freshly registered User of the demo shop."""
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.com"
    answer = await client.post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": label},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], email


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict:
    answer = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _bearer(tokens: dict) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


async def _demo_admin(client: httpx.AsyncClient, target: Target) -> dict[str, str]:
    return _bearer(await _login(client, target.demo.admin_email, target.demo.admin_password))


async def test_a_demoted_admin_is_refused_at_once_and_cannot_promote_itself(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 6: a demoted Admin's old token carries no Admin rights any more."""
    admin = await _demo_admin(client, target)
    user_id, email = await _new_user(client, "deputy")
    promoted = await client.put(
        f"{API}/users/{user_id}/roles", json={"roles": ["Admin", "User"]}, headers=admin
    )
    assert promoted.status_code == 200, promoted.text
    deputy = _bearer(await _login(client, email))
    # The deputy is an Admin now, everywhere (and every cache has seen its token).
    assert (await client.get(f"{API}/users", headers=deputy)).status_code == 200
    absent = f"{API}/products/{uuid.uuid4()}"
    assert (await client.delete(absent, headers=deputy)).status_code == 404

    demoted = await client.put(
        f"{API}/users/{user_id}/roles", json={"roles": ["User"]}, headers=admin
    )
    assert demoted.status_code == 200, demoted.text

    listing = await client.get(f"{API}/users", headers=deputy)
    assert listing.status_code == 403, listing.text
    assert listing.headers["content-type"].startswith("application/problem+json")
    again = await client.put(
        f"{API}/users/{user_id}/roles", json={"roles": ["Admin", "User"]}, headers=deputy
    )
    assert again.status_code == 403, again.text
    assert (await client.delete(absent, headers=deputy)).status_code == 403
    # Still a User: the token works for what a User may do.
    me = await client.get(f"{API}/users/me", headers=deputy)
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["User"]


async def test_a_password_change_ends_the_old_access_tokens(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 6: after a password change, tokens issued before it are refused."""
    _, email = await _new_user(client, "changer")
    other_device = _bearer(await _login(client, email))
    this_device = _bearer(await _login(client, email))
    assert (await client.get(f"{API}/users/me", headers=other_device)).status_code == 200

    changed = await client.patch(
        f"{API}/users/me",
        json={"password": "a new long password", "current_password": PASSWORD},
        headers=this_device,
    )
    assert changed.status_code == 200, changed.text

    for old in (other_device, this_device):
        answer = await client.get(f"{API}/users/me", headers=old)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    fresh = _bearer(await _login(client, email, "a new long password"))
    assert (await client.get(f"{API}/users/me", headers=fresh)).status_code == 200


async def test_a_logout_ends_the_access_token_of_the_session(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 6: after a logout, the access token of that session is refused."""
    _, email = await _new_user(client, "leaver")
    tokens = await _login(client, email)
    assert (await client.get(f"{API}/users/me", headers=_bearer(tokens))).status_code == 200

    out = await client.post(f"{API}/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204, out.text

    answer = await client.get(f"{API}/users/me", headers=_bearer(tokens))
    assert answer.status_code == 401, answer.text
    again = _bearer(await _login(client, email))  # logging in again works at once
    assert (await client.get(f"{API}/users/me", headers=again)).status_code == 200


async def test_an_ended_session_is_refused_by_every_service_on_the_embedded_platform(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 6: one process, one view of sessions: the gateway and every service
    refuse a logged-out token on the very next request (the multi-process platform polls
    identity, see kit/sessions.py)."""
    only(target, "embedded")
    _, email = await _new_user(client, "cart-leaver")
    tokens = await _login(client, email)
    assert (await client.get(f"{API}/cart", headers=_bearer(tokens))).status_code == 200
    out = await client.post(f"{API}/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204, out.text
    answer = await client.get(f"{API}/cart", headers=_bearer(tokens))
    assert answer.status_code == 401, answer.text
