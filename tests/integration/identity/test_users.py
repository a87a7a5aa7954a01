"""Own profile, password change, and the admin's user list and role management."""

from __future__ import annotations

from typing import Any

from shopfleet.identity.models import UserPublic


async def test_update_display_name_and_password(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    tokens = await identity.login("acme", "ann@example.com")
    me = identity.api("acme", "/users/me")
    auth = identity.bearer(tokens["access_token"])

    renamed = await identity.http.patch(me, headers=auth, json={"display_name": "Ann B."})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Ann B."

    no_current = await identity.http.patch(me, headers=auth, json={"password": "new password 1"})
    identity.assert_problem(no_current, 422, "body.current_password")
    wrong = await identity.http.patch(
        me, headers=auth, json={"password": "new password 1", "current_password": "not it"}
    )
    identity.assert_problem(wrong, 400, "body.current_password")

    changed = await identity.http.patch(
        me, headers=auth, json={"password": "new password 1", "current_password": identity.PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    # Every session of the old password ends; the new password works, the old one does not.
    stale = await identity.http.post(
        identity.api("acme", "/auth/refresh"), json={"refresh_token": tokens["refresh_token"]}
    )
    identity.assert_problem(stale, 401)
    await identity.login("acme", "ann@example.com", "new password 1")
    old = await identity.http.post(
        identity.api("acme", "/auth/login"),
        json={"email": "ann@example.com", "password": identity.PASSWORD},
    )
    identity.assert_problem(old, 401)


async def test_me_needs_a_valid_token(identity: Any) -> None:
    await identity.create_shop("acme")
    me = identity.api("acme", "/users/me")
    identity.assert_problem(await identity.http.get(me), 401)
    identity.assert_problem(await identity.http.get(me, headers=identity.bearer("garbage")), 401)
    basic = await identity.http.get(me, headers={"Authorization": "Basic abc"})
    identity.assert_problem(basic, 401)


async def test_a_user_may_not_list_users_or_change_roles(identity: Any) -> None:
    await identity.create_shop("acme")
    ann = await identity.register("acme", "ann@example.com")
    auth = identity.bearer((await identity.login("acme", "ann@example.com"))["access_token"])
    identity.assert_problem(
        await identity.http.get(identity.api("acme", "/users"), headers=auth), 403
    )
    promote = await identity.http.put(
        identity.api("acme", f"/users/{ann['id']}/roles"), headers=auth, json={"roles": ["Admin"]}
    )
    identity.assert_problem(promote, 403)


async def test_admin_lists_users_page_by_page_with_filters(identity: Any) -> None:
    await identity.create_shop("acme")
    for n in range(25):
        await identity.register("acme", f"user{n:02d}@example.com")
    auth = identity.bearer(await identity.admin_token("acme"))
    users = identity.api("acme", "/users")

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = await identity.http.get(users, headers=auth, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 26  # 25 shoppers and the admin
    assert len({u["id"] for u in seen}) == 26
    assert [u["created_at"] for u in seen] == sorted(u["created_at"] for u in seen)
    assert all("password_hash" not in u for u in seen)

    admins = (await identity.http.get(users, headers=auth, params={"role": "Admin"})).json()
    assert [u["email"] for u in admins["items"]] == ["admin@acme.example.com"]
    prefixed = await identity.http.get(users, headers=auth, params={"email": "USER1", "limit": 100})
    assert sorted(u["email"] for u in prefixed.json()["items"]) == [
        f"user{n}@example.com" for n in range(10, 20)
    ]
    wildcard = await identity.http.get(users, headers=auth, params={"email": "user_"})
    assert wildcard.json()["items"] == []  # '_' is a character, not a LIKE wildcard

    bad = await identity.http.get(users, headers=auth, params={"cursor": "bm90IGEgY3Vyc29y"})
    body = identity.assert_problem(bad, 400, "query.cursor")
    assert "cursor" in body["detail"]
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}):
        identity.assert_problem(
            await identity.http.get(users, headers=auth, params=params), 422, "query.limit"
        )
    identity.assert_problem(
        await identity.http.get(users, headers=auth, params={"role": "Boss"}), 422, "query.role"
    )


async def test_roles_are_granted_and_the_last_admin_is_kept(identity: Any) -> None:
    tenant = await identity.create_shop("acme")
    admin_id = tenant["admin_user_id"]
    ann = await identity.register("acme", "ann@example.com")
    auth = identity.bearer(await identity.admin_token("acme"))

    def roles_url(user_id: str) -> str:
        return identity.api("acme", f"/users/{user_id}/roles")

    last = await identity.http.put(roles_url(admin_id), headers=auth, json={"roles": ["User"]})
    assert identity.assert_problem(last, 409)["type"].endswith("/last-admin")

    promoted = await identity.http.put(
        roles_url(ann["id"]), headers=auth, json={"roles": ["User", "Admin", "User"]}
    )
    assert promoted.status_code == 200 and promoted.json()["roles"] == ["Admin", "User"]
    # Ann logs in as an Admin now, and the first admin may step down.
    ann_auth = identity.bearer((await identity.login("acme", "ann@example.com"))["access_token"])
    assert (
        await identity.http.get(identity.api("acme", "/users"), headers=ann_auth)
    ).status_code == 200
    demoted = await identity.http.put(roles_url(admin_id), headers=auth, json={"roles": ["User"]})
    assert demoted.status_code == 200 and demoted.json()["roles"] == ["User"]

    platform = await identity.http.put(
        roles_url(ann["id"]), headers=ann_auth, json={"roles": ["PlatformAdmin"]}
    )
    body = identity.assert_problem(platform, 422, "body.roles")
    assert "PlatformAdmin" in body["detail"]
    for roles in ([], ["Boss"], "Admin"):
        answer = await identity.http.put(
            roles_url(ann["id"]), headers=ann_auth, json={"roles": roles}
        )
        identity.assert_problem(answer, 422, "body.roles")
    unknown = await identity.http.put(
        roles_url("00000000-0000-4000-8000-000000000000"),
        headers=ann_auth,
        json={"roles": ["User"]},
    )
    identity.assert_problem(unknown, 404)
    garbage = await identity.http.put(
        roles_url("no-such-user"), headers=ann_auth, json={"roles": ["User"]}
    )
    identity.assert_problem(garbage, 422, "path.user_id")


async def test_another_shops_user_is_not_found(identity: Any) -> None:
    await identity.create_shop("acme")
    other = await identity.create_shop("other")
    auth = identity.bearer(await identity.admin_token("acme"))
    answer = await identity.http.put(
        identity.api("acme", f"/users/{other['admin_user_id']}/roles"),
        headers=auth,
        json={"roles": ["User"]},
    )
    identity.assert_problem(answer, 404)


async def test_users_read_back_as_validation_would_give_them(identity: Any) -> None:
    """Stored users are answered without validating them again (store.stored_user):
    the answers are still exactly what the validated model gives."""
    await identity.create_shop("acme")
    await identity.register("acme", "Ann.Lee@Example.COM")
    tokens = await identity.login("acme", "ann.lee@example.com")
    auth = identity.bearer(tokens["access_token"])
    me = await identity.http.get(identity.api("acme", "/users/me"), headers=auth)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ann.lee@example.com"
    assert me.json() == UserPublic.model_validate(me.json()).model_dump(mode="json")
    admin = identity.bearer(await identity.admin_token("acme"))
    page = await identity.http.get(identity.api("acme", "/users"), headers=admin)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert me.json() in items
    assert items == [UserPublic.model_validate(u).model_dump(mode="json") for u in items]
