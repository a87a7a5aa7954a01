"""Small SQL helpers that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert(
    session: AsyncSession,
    table: sa.Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    where: sa.ColumnElement[bool] | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update-columns [WHERE where]; not executed.

    In `where`, `excluded(table).c.x` is the value that was to be inserted.
    """
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(table).values(dict(values))
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: stmt.excluded[name] for name in update},
        where=where,
    )


def excluded(session: AsyncSession, table: sa.Table) -> Any:
    """The `excluded` pseudo-table of an upsert into `table` (for its WHERE clause)."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_(table).excluded
