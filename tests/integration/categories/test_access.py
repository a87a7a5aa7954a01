"""Only a shop's Admins change its tree; reads are public; shops never see each other."""

from __future__ import annotations

from typing import Any

ADMIN_ROUTES = [
    ("POST", "/categories", {"name": "New"}),
    ("PATCH", "/categories/{id}", {"name": "Renamed"}),
    ("DELETE", "/categories/{id}", None),
]


async def _call(categories: Any, method: str, path: str, body: Any, headers: Any, **kw: Any) -> Any:
    return await categories.http.request(
        method, categories.api(path, **kw), json=body, headers=headers
    )


async def test_only_admins_change_the_tree_and_everyone_reads_it(categories: Any) -> None:
    hats = await categories.create("Hats")
    for method, path, body in ADMIN_ROUTES:
        path = path.replace("{id}", hats["id"])
        forbidden = await _call(categories, method, path, body, categories.user)
        assert categories.assert_problem(forbidden, 403)["type"].endswith("/forbidden")
        anonymous = await _call(categories, method, path, body, {})
        categories.assert_problem(anonymous, 401)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for header in ("Bearer nope", "Basic abc", "Bearer "):
        answer = await categories.http.post(
            categories.api("/categories"), json={"name": "x"}, headers={"Authorization": header}
        )
        categories.assert_problem(answer, 401)
    assert (await categories.get(hats["id"]))["version"] == 1  # nothing changed
    assert len(await categories.tree()) == 1

    # Reads are public, with or without a token.
    for path in ("/categories", f"/categories/{hats['id']}", f"/categories/{hats['id']}/products"):
        assert (await categories.http.get(categories.api(path))).status_code == 200
        with_user = await categories.http.get(categories.api(path), headers=categories.user)
        assert with_user.status_code == 200


async def test_another_shops_categories_are_404(categories: Any) -> None:
    theirs = await categories.create("Theirs", shop=categories.OTHER_SHOP)
    ours = await categories.create("Ours")
    # Through our shop's routes, with our Admin token: their category is not here.
    for method, path, body in [
        ("GET", "/categories/{id}", None),
        ("GET", "/categories/{id}/products", None),
        *ADMIN_ROUTES[1:],
    ]:
        path = path.replace("{id}", theirs["id"])
        answer = await _call(categories, method, path, body, categories.admin)
        categories.assert_problem(answer, 404)
    assert [n["name"] for n in await categories.tree()] == ["Ours"]
    assert [n["name"] for n in await categories.tree(categories.OTHER_SHOP)] == ["Theirs"]

    # Their Admin's token on our shop's routes: 404 too, as if nothing were here.
    their_admin = categories.headers(categories.OTHER_SHOP, "Admin")
    for method, path, body in ADMIN_ROUTES:
        path = path.replace("{id}", ours["id"])
        categories.assert_problem(await _call(categories, method, path, body, their_admin), 404)
    assert (await categories.get(ours["id"]))["name"] == "Ours"


async def test_unknown_categories_are_404(categories: Any) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for method, path in [
        ("GET", f"/categories/{missing}"),
        ("GET", f"/categories/{missing}/products"),
        ("PATCH", f"/categories/{missing}"),
        ("DELETE", f"/categories/{missing}"),
    ]:
        kw: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        answer = await categories.http.request(
            method, categories.api(path), headers=categories.admin, **kw
        )
        categories.assert_problem(answer, 404)
