"""Fixtures every tier shares: real PostgreSQL databases made fresh for this run.

The machine's PostgreSQL (127.0.0.1:5432), Redis and RabbitMQ are used for real. A service
that is down fails the run loudly with the command that starts it; it never skips.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shopfleet.kit.telemetry import configure_logging
from tests.support.tokens import TokenMint

PG_HOST = os.environ.get("SHOPFLEET_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SHOPFLEET_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SHOPFLEET_TEST_PG_USER", "postgres")
RUN_ID = uuid.uuid4().hex[:8]

START_COMMANDS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save ''",
    "RabbitMQ": "rabbitmq-server -detached",
}


def require_service(name: str, host: str, port: int) -> None:
    """Fail (never skip) when a backing service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(
            f"{name} is not reachable at {host}:{port} ({exc}). "
            f"Start it with: {START_COMMANDS[name]}",
            pytrace=False,
        )


class PostgresDatabases:
    """Creates uniquely named databases for this test run and drops them at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def _admin_dsn(self) -> str:
        return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"

    async def create(self, label: str) -> str:
        name = f"sf_test_{RUN_ID}_{label}_{uuid.uuid4().hex[:6]}"
        conn = await asyncpg.connect(self._admin_dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(self._admin_dsn())
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session", autouse=True)
def _plain_logs() -> None:
    """JSON logs as in production: the dev console renderer draws slow tracebacks."""
    configure_logging("INFO", "json")


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresDatabases]:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    dbs = PostgresDatabases()
    yield dbs
    await dbs.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrize a test over both relational backends."""
    return request.param


@pytest.fixture
async def database_url_factory(
    backend: str, postgres: PostgresDatabases, tmp_path: Path
) -> Callable[[str], object]:
    """`await make_url("identity")` → a fresh database URL on the chosen backend."""

    async def make(label: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'{label}.db'}"
        return await postgres.create(label)

    return make


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path


@pytest.fixture(scope="session")
def mint() -> TokenMint:
    return TokenMint()


# The tiers run side by side (pytest-xdist, in scripts/test). A package whose tests share
# one expensive platform (a simulated cluster, a multi-process platform of ~20 processes)
# runs on one worker, so it is started once, not once per worker; every other test goes
# wherever a worker is free. (A scheduler of our own: xdist's `loadgroup` reads a node id
# attribute pytest 9.2 no longer has, and silently spreads the groups.)
SHARED_PLATFORM_GROUPS = {
    "tests/cluster/": "cluster",
    "tests/e2e/multiprocess/": "multiprocess",
    "tests/security/": "security",
}


def shared_platform_group(nodeid: str) -> str | None:
    return next((g for p, g in SHARED_PLATFORM_GROUPS.items() if nodeid.startswith(p)), None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class SharedPlatformScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shared_platform_group(nodeid) or nodeid

    return SharedPlatformScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The shared-platform packages first: the longest units of work start while the rest
    fills the other workers (a stable sort: the order inside each package stays)."""
    items.sort(key=lambda item: shared_platform_group(item.nodeid) is None)
