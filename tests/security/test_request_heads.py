"""Issue 12, hole 9: request heads are bounded in size, field count and time.

uvicorn on httptools read heads of any size and any number of fields, and waited forever
for a head that never ended: 1,000 half-sent heads held 1,000 connections. Every server of
ours (kit/server.py) now answers 431 or 408 as problem+json and closes.
"""

from __future__ import annotations

import asyncio

from tests.security.conftest import API, SERVER_LIMITS, Target
from tests.support.rawhttp import exchange, request_head

PROBLEM = "application/problem+json"
# Long past the platform's head timeout: a guard against hanging, not a measurement.
GUARD_S = SERVER_LIMITS["http_header_timeout_s"] + 30


async def test_a_one_megabyte_header_is_refused(target: Target) -> None:
    """Issue 12, hole 9: a 1 MB header gets a 431 problem, not the shop's products."""
    answer = await exchange(target.url, request_head(f"{API}/products", ("x-big", "a" * 2**20)))
    assert answer.status == 431
    assert answer.headers["content-type"] == PROBLEM
    assert "request head is larger than" in answer.json()["detail"]


async def test_five_thousand_header_fields_are_refused(target: Target) -> None:
    """Issue 12, hole 9: 5,000 header fields get a 431 problem."""
    fields = [(f"x-h{i}", "1") for i in range(5000)]
    answer = await exchange(target.url, request_head(f"{API}/products", *fields))
    assert answer.status == 431
    assert answer.headers["content-type"] == PROBLEM
    assert "header fields" in answer.json()["detail"]


async def test_half_sent_heads_do_not_hold_connections(target: Target) -> None:
    """Issue 12, hole 9: 50 connections that never finish their head are each answered
    408 and closed by the server (the platform's head timeout here is a few seconds)."""
    unfinished = request_head(f"{API}/products", ("x-slow", "1"), end=False)
    answers = await asyncio.gather(
        *(exchange(target.url, unfinished, guard_s=GUARD_S) for _ in range(50))
    )
    assert [a.status for a in answers] == [408] * 50
    assert {a.headers["content-type"] for a in answers} == {PROBLEM}
