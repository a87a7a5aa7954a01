"""The operator, run for real by kopf's KopfRunner (in a thread), against an emulated API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
import uvicorn
import yaml
from kopf.testing import KopfRunner

from shopfleet.platform import EmbeddedPlatform
from shopfleet_operator.crd import crd_manifest
from tests.operator.apiserver import ApiServer
from tests.support.platform import PLATFORM_TOKEN, make_platform
from tests.support.server import free_port

PLATFORM_NS = "shopfleet"
# Read when kopf imports the operator's main module: drift checks every second here.
os.environ.setdefault("SHOPFLEET_OPERATOR_TIMER_INTERVAL", "1")


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        for ns in ("default", PLATFORM_NS, "kube-system"):
            await server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await server.apply(crd_manifest())
        yield server


def kubeconfig_for(api: ApiServer, path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "emulated",
                "clusters": [{"name": "emulated", "cluster": {"server": str(api.url).rstrip("/")}}],
                "users": [{"name": "operator", "user": {"token": "emulated"}}],
                "contexts": [
                    {"name": "emulated", "context": {"cluster": "emulated", "user": "operator"}}
                ],
            }
        )
    )
    return path


class Operator:
    """Starts and stops the operator; each start is a fresh process-like run."""

    def __init__(self, api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.api = api
        self.monkeypatch = monkeypatch
        self.runner: KopfRunner | None = None
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig_for(api, tmp_path / "kubeconfig")))
        monkeypatch.setenv("SHOPFLEET_OPERATOR_NAMESPACE", PLATFORM_NS)
        monkeypatch.setenv("SHOPFLEET_OPERATOR_RETRY_DELAY", "0.3")
        monkeypatch.setenv("SHOPFLEET_OPERATOR_IMAGE", "registry.example.com/shopfleet:test")
        monkeypatch.delenv("SHOPFLEET_PLATFORM_URL", raising=False)
        monkeypatch.delenv("SHOPFLEET_PLATFORM_TOKEN", raising=False)

    def use_platform(self, url: str, token: str) -> None:
        self.monkeypatch.setenv("SHOPFLEET_PLATFORM_URL", url)
        self.monkeypatch.setenv("SHOPFLEET_PLATFORM_TOKEN", token)

    async def start(self) -> None:
        args = ["run", "-m", "shopfleet_operator.main", "--standalone", "--all-namespaces"]
        self.runner = KopfRunner(args, timeout=30)
        await asyncio.to_thread(self.runner.__enter__)

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await asyncio.to_thread(runner.__exit__, None, None, None)
            assert runner.exception is None, runner.output

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Operator]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()


@pytest.fixture
async def operator(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Operator]:
    op = Operator(api, tmp_path, monkeypatch)
    yield op
    await op.stop()


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> Any:
    """Poll until `check` returns something truthy (the operator works in its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def platform_server(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedPlatform, str]]:
    """The embedded platform, served by uvicorn on a loopback port."""
    embedded = make_platform(tmp_path / "platform")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(embedded, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=180)
    assert server.started, "the platform did not start"
    yield embedded, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def platform_token() -> str:
    return PLATFORM_TOKEN
