"""JSON bodies are bounded in shape before validation; a 422 lists a bounded number of errors."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict

from shopfleet.kit.errors import install_problem_handlers
from shopfleet.kit.jsonlimits import JsonBounds, JsonLimits

BOUNDS = JsonBounds(
    max_bytes=4096, max_depth=4, max_object_keys=8, max_array_items=8, max_values=20
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def make_app(bounds: JsonBounds = BOUNDS) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(JsonLimits, bounds=bounds)

    @app.post("/strict")
    async def strict(body: Strict) -> dict[str, str]:
        return {"name": body.name}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    return app


async def post(
    path: str, content: bytes, content_type: str = "application/json", app: FastAPI | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app or make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, content=content, headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("document", "bound", "at"),
    [
        ({f"k{i}": i for i in range(9)}, "keys_per_object", "$"),
        ({"a": list(range(9))}, "items_per_array", "$.a"),
        ({"a": {"b": {"c": {"d": {}}}}}, "depth", "$.a.b.c.d"),
        ([[1, 2, 3, 4, 5, 6, 7]] * 3, "values", "$[0]"),
    ],
)
async def test_a_body_past_a_bound_gets_a_413_naming_it(
    document: object, bound: str, at: str
) -> None:
    answer = await post("/strict", orjson.dumps(document))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "https://shopfleet.io/problems/json-too-complex"
    assert (problem["bound"], problem["at"]) == (bound, at)
    assert (
        problem["limit"]
        == {"keys_per_object": 8, "items_per_array": 8, "depth": 4, "values": 20}[bound]
    )


async def test_a_body_larger_than_the_byte_bound_is_refused() -> None:
    answer = await post("/strict", orjson.dumps({"name": "x" * 5000}))
    assert answer.status_code == 413
    assert answer.json()["bound"] == "bytes"
    assert "4096 bytes" in answer.json()["detail"]


async def test_what_only_the_standard_library_parses_is_bounded_too() -> None:
    """NaN is not JSON (orjson refuses it) but the app's parser accepts it."""
    body = b'{"n": NaN, ' + b", ".join(b'"k%d": 1' % i for i in range(9)) + b"}"
    answer = await post("/strict", body, "application/merge-patch+json")
    assert answer.status_code == 413
    assert answer.json()["bound"] == "keys_per_object"


async def test_a_body_within_the_bounds_reaches_the_app_unchanged() -> None:
    body = b'{ "name" : "mug",\n "x": [1, 2] }'
    answer = await post("/raw", body)
    assert answer.status_code == 200
    assert answer.json() == {"body": body.decode()}
    assert (await post("/strict", b'{"name": "mug"}')).json() == {"name": "mug"}


async def test_other_content_types_and_invalid_json_pass_to_the_app() -> None:
    many = orjson.dumps(list(range(100)))
    assert (await post("/raw", many, "text/plain")).json() == {"body": many.decode()}
    broken = await post("/strict", b'{"name": ')
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["type"] == "json_invalid"


async def test_a_422_lists_twenty_errors_and_counts_the_rest() -> None:
    roomy = JsonBounds(max_object_keys=1000, max_values=1000)
    body = orjson.dumps({"name": "mug", **{f"k{i}": i for i in range(100)}})
    answer = await post("/strict", body, app=make_app(roomy))
    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == 20
    assert problem["errors_not_listed"] == 80
    assert problem["detail"].endswith("; and 95 more")
    few = await post("/strict", b'{"name": 1}', app=make_app(roomy))
    assert "errors_not_listed" not in few.json()
