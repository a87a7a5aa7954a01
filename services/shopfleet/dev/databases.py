"""The dev platform's PostgreSQL databases: one per service, created on an admin DSN."""

from __future__ import annotations

from collections.abc import Sequence


def database_url(admin_dsn: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(admin_dsn).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def ensure_database(admin_dsn: str, name: str) -> str:
    """Create database `name` unless it exists; its SQLAlchemy URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(admin_dsn, name)


async def drop_databases(admin_dsn: str, names: Sequence[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
