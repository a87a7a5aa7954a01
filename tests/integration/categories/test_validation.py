"""Bad input gets a 4xx problem+json naming each offending field; never a 500."""

from __future__ import annotations

from typing import Any

UUID = "00000000-0000-4000-8000-000000000000"


BAD_CREATES: list[tuple[Any, list[str]]] = [
    ({}, ["body.name"]),
    ({"name": ""}, ["body.name"]),
    ({"name": "n" * 101}, ["body.name"]),
    ({"name": "Bad\u0000name"}, ["body.name"]),
    ({"name": "Tab\tname"}, ["body.name"]),
    ({"name": 42}, ["body.name"]),
    ({"name": "ok", "slug": "Not A Slug"}, ["body.slug"]),
    ({"name": "ok", "slug": "double--hyphen"}, ["body.slug"]),
    ({"name": "ok", "slug": "-edge"}, ["body.slug"]),
    ({"name": "ok", "slug": "s" * 101}, ["body.slug"]),
    ({"name": "ok", "parent_id": "../../etc"}, ["body.parent_id"]),
    ({"name": "ok", "parent_id": 7}, ["body.parent_id"]),
    ({"name": "ok", "position": -1}, ["body.position"]),
    ({"name": "ok", "position": 10**12}, ["body.position"]),
    ({"name": "ok", "position": "first"}, ["body.position"]),
    ({"name": "ok", "position": 1.5}, ["body.position"]),
    ({"name": "ok", "description": "d" * 2001}, ["body.description"]),
    ({"name": "ok", "description": "bell\u0007"}, ["body.description"]),
    ({"name": "ok", "colour": "red"}, ["body.colour"]),
    ({"name": None, "slug": 5, "position": -5}, ["body.name", "body.slug", "body.position"]),
    (["a", "list"], ["body"]),
]


async def test_create_rejects_bad_fields(categories: Any) -> None:
    for body, fields in BAD_CREATES:
        answer = await categories.http.post(
            categories.api("/categories"), json=body, headers=categories.admin
        )
        categories.assert_problem(answer, 422, *fields)
    assert await categories.tree() == []


async def test_update_rejects_bad_fields(categories: Any) -> None:
    hats = await categories.create("Hats")
    cases = [
        ({"name": None}, "body.name"),
        ({"slug": None}, "body.slug"),
        ({"position": None}, "body.position"),
        ({"name": ""}, "body.name"),
        ({"slug": "UPPER"}, "body.slug"),
        ({"parent_id": "not-hex-zz"}, "body.parent_id"),
        ({"position": -3}, "body.position"),
        ({"version": 9}, "body.version"),
        ({"id": UUID}, "body.id"),
    ]
    for body, field in cases:
        answer = await categories.patch(hats["id"], **body)
        body_ = categories.assert_problem(answer, 422, field)
        if body.get(field.split(".")[1], 0) is None:
            assert "omit the field" in body_["detail"]
    assert (await categories.get(hats["id"]))["version"] == 1


async def test_malformed_json_and_bad_ids_are_422(categories: Any) -> None:
    answer = await categories.http.post(
        categories.api("/categories"),
        content=b'{"name": "x",',
        headers={**categories.admin, "Content-Type": "application/json"},
    )
    assert "not valid JSON" in categories.assert_problem(answer, 422)["detail"]
    for method in ("GET", "PATCH", "DELETE"):
        answer = await categories.http.request(
            method, categories.api("/categories/NOT-AN-ID"), json={}, headers=categories.admin
        )
        categories.assert_problem(answer, 422, "path.category_id")
    answer = await categories.http.get(categories.api("/categories/" + "a" * 37))
    categories.assert_problem(answer, 422, "path.category_id")
    answer = await categories.http.get("/shops/NOT_A_SHOP/api/v1/categories")
    categories.assert_problem(answer, 422, "path.shop")
