"""A database that cannot serve the request is a 503 to retry, not a 500."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import sqlalchemy.exc as sa_exc
from fastapi import FastAPI

from shopfleet.kit.errors import install_problem_handlers


def wrapped_as_sqlalchemy_does(error: Exception) -> sa_exc.DBAPIError:
    """asyncpg's error, as SQLAlchemy's asyncpg dialect hands it up: a plain DBAPIError
    around its adapter's error, caused by asyncpg's."""
    adapted = Exception(str(error))
    adapted.__cause__ = error
    return sa_exc.DBAPIError("connect", {}, adapted)


FAILURES = {
    "pool": sa_exc.TimeoutError("QueuePool limit reached"),
    "too-many": sa_exc.OperationalError("connect", {}, Exception("too many clients already")),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    # What PostgreSQL really answered the embedded platform with default pools (a 500 then).
    "asyncpg-too-many": wrapped_as_sqlalchemy_does(
        asyncpg.TooManyConnectionsError("sorry, too many clients already")
    ),
    "asyncpg-starting-up": wrapped_as_sqlalchemy_does(
        asyncpg.CannotConnectNowError("the database system is starting up")
    ),
    "fast-read-too-many": asyncpg.TooManyConnectionsError("sorry, too many clients already"),
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


@pytest.mark.parametrize(
    "error",
    [KeyError("x"), wrapped_as_sqlalchemy_does(asyncpg.UndefinedColumnError("no column x"))],
    ids=["key-error", "undefined-column"],
)
async def test_a_bug_is_still_a_500(error: Exception) -> None:
    transport = httpx.ASGITransport(app_failing_with(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/boom")
    assert answer.status_code == 500
