"""Drift between a service's alembic migrations and the tables its models describe."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shopfleet.kit.db import Database


def _diff(conn: Connection, tables: list[Any]) -> list[Any]:
    names = {model.__tablename__ for model in tables}
    metadata = MetaData()
    for model in tables:
        model.__table__.to_metadata(metadata)
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: kind != "table" or name in names,
        },
    )
    return compare_metadata(context, metadata)


async def migration_drift(
    database_url: str, *, service: str, migrations: Path, tables: Iterable[Any]
) -> list[Any]:
    """Bring the database at `database_url` to the newest revision of `migrations`, then
    answer how its schema differs from the models' `tables` (alembic's compare_metadata;
    other tables are ignored). `[]`: the migrations build exactly what the models say."""
    db = Database(database_url, service=service, migrations=migrations)
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            return await conn.run_sync(_diff, list(tables))
    finally:
        await db.dispose()
