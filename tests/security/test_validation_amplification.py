"""Issue 12, hole 4: a small request must not buy a huge answer or a long stall.

An anonymous `POST /auth/register` with hundreds of thousands of unknown JSON keys was
validated key by key and answered with one error per key (a 60 MB 422 for an 8 MB body,
the event loop held for seconds). The JSON's shape is now bounded before validation, and
a 422 lists a bounded number of errors.
"""

from __future__ import annotations

import httpx
import orjson

from tests.security.conftest import API

PROBLEM = "application/problem+json"


def _json(body: object) -> dict[str, str | bytes]:
    return {"content": orjson.dumps(body), "headers": {"content-type": "application/json"}}


async def test_the_reported_body_is_refused_before_validation(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 4: the report's body, 700,000 unknown keys (8.3 MB), gets one short
    problem (it is past the byte bound of a JSON body), not a 60 MB list of errors."""
    body = {f"k{i}": 1 for i in range(700_000)}
    assert 8_000_000 < len(orjson.dumps(body)) < 9_000_000
    answer = await client.post(f"{API}/auth/register", **_json(body))  # type: ignore[arg-type]
    assert answer.status_code == 413, answer.status_code
    assert answer.headers["content-type"] == PROBLEM
    assert len(answer.content) < 2_000
    assert answer.json()["type"].endswith("/json-too-complex")


async def test_many_unknown_keys_are_refused_before_validation(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 4: 50,000 unknown keys (within the byte bound) get one short problem
    naming the bound they break."""
    body = {f"k{i}": i for i in range(50_000)}
    answer = await client.post(f"{API}/auth/register", **_json(body))  # type: ignore[arg-type]
    assert answer.status_code == 413, answer.status_code
    assert answer.headers["content-type"] == PROBLEM
    assert len(answer.content) < 2_000
    problem = answer.json()
    assert problem["bound"] == "keys_per_object"
    assert "more than 1000 keys" in problem["detail"]


async def test_deep_nesting_is_refused_naming_the_bound(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 4: a body nested 500 deep is refused, saying depth is the bound."""
    deep = b'{"email": ' + b'{"a": ' * 500 + b"1" + b"}" * 501
    answer = await client.post(
        f"{API}/auth/register", content=deep, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["bound"] == "depth"


async def test_huge_arrays_are_refused_naming_the_bound(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 4: an array of 100,000 items is refused, saying array size is the bound."""
    answer = await client.post(f"{API}/auth/register", **_json({"email": [0] * 100_000}))  # type: ignore[arg-type]
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["bound"] == "items_per_array"


async def test_a_422_lists_a_bounded_number_of_errors(client: httpx.AsyncClient) -> None:
    """Issue 12, hole 4: within the bounds, 200 unknown keys answer 20 errors and a count."""
    body = {
        "email": "a@b.example",
        "password": "x" * 20,
        "display_name": "A",
        **{f"k{i}": i for i in range(200)},
    }
    answer = await client.post(f"{API}/auth/register", **_json(body))  # type: ignore[arg-type]
    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == 20
    assert problem["errors_not_listed"] == 200 - 20
    assert problem["errors"][0]["message"] == "unknown field; remove it"
