"""Fixtures: `serve(...)` starts `shopfleet serve` processes (killed after the test), and
`catalog_env` is the environment of a catalog on local blocks and a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from tests.integration.serve.processes import Served, clean_env


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Served]]:
    """`serve(service, env, *args)` starts a process; every one still running is killed after."""
    started: list[Served] = []

    def start(service: str, env: Mapping[str, str], *args: str, port: int | None = None) -> Served:
        served = Served(service, env, tmp_path / f"{service}-{len(started)}.log", *args, port=port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
async def catalog_env(
    backend: str, database_url_factory: Callable, tmp_path: Path
) -> dict[str, str]:
    """Local blocks, a data dir of its own, a fresh catalog database on `backend`, JSON logs."""
    url = await database_url_factory("serve_catalog")
    return clean_env(
        SHOPFLEET_BLOCKS="local",
        SHOPFLEET_DATA_DIR=str(tmp_path / "data"),
        SHOPFLEET_CATALOG_DATABASE_URL=url,
        SHOPFLEET_LOG_FORMAT="json",
    )
