"""Every server we start (kit/server.py): request heads bounded in size, field count and
time, answered as problem+json; forwarded headers believed from trusted proxies only."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from shopfleet.kit.settings import PlatformSettings
from tests.support.rawhttp import exchange, request_head
from tests.support.server import free_port, serving

PROBLEM = "application/problem+json"
LIMITS = {"http_max_head_bytes": 4096, "http_max_headers": 20, "http_header_timeout_s": 1}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the client address and scheme the server gave the app."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = orjson.dumps({"client": scope["client"][0], "scheme": scope["scheme"]})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def settings(**overrides: object) -> PlatformSettings:
    return PlatformSettings(**{**LIMITS, **overrides})  # type: ignore[arg-type]


@pytest.fixture
async def url() -> str:
    async with serving(echo, free_port(), settings=settings()) as base:
        yield base  # type: ignore[misc]


async def test_a_head_within_the_limits_is_served(url: str) -> None:
    answer = await exchange(url, request_head("/", *[(f"x-f{i}", "v" * 100) for i in range(15)]))
    assert answer.status == 200


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ([("x-big", "v" * 5000)], "larger than 4096 bytes"),
        ([(f"x-f{i}", "v") for i in range(30)], "more than 20 header fields"),
    ],
)
async def test_a_head_past_a_limit_gets_a_431_problem(
    url: str, fields: list[tuple[str, str]], says: str
) -> None:
    answer = await exchange(url, request_head("/", *fields))
    assert answer.status == 431
    assert answer.headers["content-type"] == PROBLEM
    assert says in answer.json()["detail"]


async def test_a_head_that_never_ends_is_refused_even_within_one_line(url: str) -> None:
    answer = await exchange(url, request_head("/", ("x-endless", "v" * 200_000), end=False))
    assert answer.status == 431


async def test_a_long_request_target_gets_a_431(url: str) -> None:
    answer = await exchange(url, request_head("/" + "a" * 5000))
    assert answer.status == 431


async def test_a_slow_head_gets_a_408_and_the_connection_closes(url: str) -> None:
    answers = await asyncio.gather(
        *(exchange(url, request_head("/", ("x-slow", "1"), end=False)) for _ in range(10))
    )
    assert {a.status for a in answers} == {408}
    assert {a.headers["content-type"] for a in answers} == {PROBLEM}


async def test_what_is_not_http_gets_a_400_problem_not_text(url: str) -> None:
    answer = await exchange(url, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.status == 400
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 400


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        seen = await http.get(
            "/", headers={"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
        )
    assert seen.json() == {"client": "127.0.0.1", "scheme": "http"}


async def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    trusting = settings(trusted_proxies=["127.0.0.0/8"])
    async with (
        serving(echo, free_port(), settings=trusting) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        seen = await http.get(
            "/",
            headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9", "x-forwarded-proto": "https"},
        )
    # the rightmost address no trusted proxy added
    assert seen.json() == {"client": "203.0.113.9", "scheme": "https"}
