"""A database that cannot serve the request is a 503 to retry, not a 500."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy.exc as sa_exc
from fastapi import FastAPI

from shopfleet.kit.errors import install_problem_handlers

FAILURES = {
    "pool": sa_exc.TimeoutError("QueuePool limit reached"),
    "too-many": sa_exc.OperationalError("connect", {}, Exception("too many clients already")),
    "refused": ConnectionRefusedError(111, "Connection refused"),
}


def app_failing_with(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize("kind", sorted(FAILURES))
async def test_an_unavailable_database_answers_503_with_retry_after(kind: str) -> None:
    transport = httpx.ASGITransport(app_failing_with(FAILURES[kind]), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/boom")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    assert answer.headers["content-type"] == "application/problem+json"
    assert "database" in answer.json()["detail"]


async def test_a_bug_is_still_a_500() -> None:
    transport = httpx.ASGITransport(app_failing_with(KeyError("x")), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/boom")
    assert answer.status_code == 500
