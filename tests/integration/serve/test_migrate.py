"""`shopfleet migrate <service>`: the schema step alone, for a Job or an initContainer. It
creates the service's schema on an empty database and changes nothing when run again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from shopfleet.serve import migrations_dir
from tests.conftest import PG_HOST, PG_PORT, PG_USER, RUN_ID, PostgresDatabases
from tests.integration.serve.processes import clean_env, shopfleet


async def schema_of(url: str) -> tuple[set[str], list[str]]:
    """(table names, alembic revisions) of the database at `url`."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            revisions = (
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))
                .scalars()
                .all()
                if "alembic_version" in tables
                else []
            )
    finally:
        await engine.dispose()
    return tables, sorted(revisions)


async def test_migrate_creates_the_schema_and_running_it_again_changes_nothing(
    catalog_env: dict[str, str],
) -> None:
    url = catalog_env["SHOPFLEET_CATALOG_DATABASE_URL"]
    assert await schema_of(url) == (set(), [])
    [head] = ScriptDirectory(str(migrations_dir("catalog"))).get_heads()

    code, out = await asyncio.to_thread(shopfleet, "migrate", "catalog", env=catalog_env)
    assert code == 0, out
    assert f"catalog: schema at revision {head}" in out
    tables, revisions = await schema_of(url)
    assert {"products", "outbox", "alembic_version"} <= tables
    assert revisions == [head]

    code, again = await asyncio.to_thread(shopfleet, "migrate", "catalog", env=catalog_env)
    assert code == 0, again
    assert f"catalog: schema at revision {head}" in again
    assert await schema_of(url) == (tables, revisions)


async def test_migrate_says_so_for_a_service_without_a_database(tmp_path: Path) -> None:
    env = clean_env(SHOPFLEET_DATA_DIR=str(tmp_path))
    code, out = await asyncio.to_thread(shopfleet, "migrate", "cart", "gateway", env=env)
    assert code == 0, out
    assert "cart: keeps no relational data; nothing to migrate" in out
    assert "gateway: keeps no relational data; nothing to migrate" in out


async def test_migrate_against_an_unreachable_database_fails_with_a_message(
    tmp_path: Path,
) -> None:
    env = clean_env(
        SHOPFLEET_DATA_DIR=str(tmp_path),
        SHOPFLEET_CATALOG_DATABASE_URL="postgresql+asyncpg://shopfleet:s3cret@127.0.0.1:9/x",
    )
    code, out = await asyncio.to_thread(shopfleet, "migrate", "catalog", env=env)
    assert code == 1, out
    assert "catalog: migration failed" in out
    assert "Traceback" not in out
    assert "s3cret" not in out


async def test_migrate_creates_a_missing_postgres_database(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    """PostgreSQL creates no database on connect: a dedicated shop's first migrate does
    (through the `postgres` maintenance database), and a second one finds it there."""
    name = f"sf_test_{RUN_ID}_missing_{uuid.uuid4().hex[:6]}"
    postgres.created.append(name)  # dropped at the end of the session
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    env = clean_env(SHOPFLEET_DATA_DIR=str(tmp_path), SHOPFLEET_CATALOG_DATABASE_URL=url)
    [head] = ScriptDirectory(str(migrations_dir("catalog"))).get_heads()
    for _ in range(2):
        code, out = await asyncio.to_thread(shopfleet, "migrate", "catalog", env=env)
        assert code == 0, out
        assert f"catalog: schema at revision {head}" in out
    tables, revisions = await schema_of(url)
    assert "products" in tables and revisions == [head]


async def test_concurrent_first_migrations_create_the_database_once(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    """Replicas' init containers start together: both succeed."""
    name = f"sf_test_{RUN_ID}_race_{uuid.uuid4().hex[:6]}"
    postgres.created.append(name)
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    env = clean_env(SHOPFLEET_DATA_DIR=str(tmp_path), SHOPFLEET_CATALOG_DATABASE_URL=url)
    results = await asyncio.gather(
        *(asyncio.to_thread(shopfleet, "migrate", "catalog", env=env) for _ in range(3))
    )
    assert [code for code, _ in results] == [0, 0, 0], results
