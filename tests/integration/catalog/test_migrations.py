"""The alembic migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shopfleet.catalog.models import TABLES


def _diff(conn: Connection) -> list[Any]:
    names = {model.__tablename__ for model in TABLES}
    metadata = MetaData()
    for model in TABLES:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: kind != "table" or name in names,
        },
    )
    return compare_metadata(context, metadata)


async def test_migration_matches_the_models(catalog: Any) -> None:
    async with catalog.app.state.db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
