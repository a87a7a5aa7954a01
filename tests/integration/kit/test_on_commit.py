"""Callbacks after a commit: run once the transaction committed, never when it rolled back,
and not when only a savepoint was released."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from shopfleet.kit.db import Database
from shopfleet.kit.on_commit import after_commit

NOTES = sa.Table("notes", sa.MetaData(), sa.Column("text", sa.String(50), primary_key=True))


@pytest.fixture
async def db(database_url_factory: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    database = Database(
        await database_url_factory("on_commit"), service="on-commit-test", migrations=Path(".")
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(NOTES.metadata.create_all)
    yield database
    await database.dispose()


async def test_runs_after_the_commit_sees_the_rows(db: Database) -> None:
    seen: list[str] = []
    async with db.session() as session:
        async with session.begin():
            await session.execute(sa.insert(NOTES).values(text="a"))
            after_commit(session, lambda: seen.append("a"))
            after_commit(session, lambda: seen.append("b"))
            assert seen == []
        assert seen == ["a", "b"]
        async with session.begin():  # the same session's next transaction: not again
            await session.execute(sa.insert(NOTES).values(text="b"))
    assert seen == ["a", "b"]


async def test_a_rollback_drops_the_callbacks(db: Database) -> None:
    seen: list[str] = []
    async with db.session() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await session.execute(sa.insert(NOTES).values(text="a"))
                after_commit(session, lambda: seen.append("a"))
                raise RuntimeError("the handler failed")
        async with session.begin():
            await session.execute(sa.insert(NOTES).values(text="b"))
    assert seen == []


async def test_a_failing_callback_does_not_undo_the_commit(db: Database) -> None:
    def broken() -> None:
        raise ValueError("bug")

    async with db.session() as session, session.begin():
        await session.execute(sa.insert(NOTES).values(text="a"))
        after_commit(session, broken)
    async with db.reader() as session:
        assert (await session.execute(sa.select(NOTES.c.text))).scalars().all() == ["a"]


async def test_a_released_savepoint_is_not_the_commit(db: Database) -> None:
    seen: list[str] = []
    async with db.session() as session:
        async with session.begin():
            after_commit(session, lambda: seen.append("a"))
            async with session.begin_nested():
                await session.execute(sa.insert(NOTES).values(text="a"))
                with pytest.raises(RuntimeError):  # its rollback could not take it back
                    after_commit(session, lambda: seen.append("b"))
            assert seen == []
        assert seen == ["a"]
