"""The node side of the simulated cluster, run for real: pods as processes in their own
network and mount namespaces (needs root, iproute2, nftables, util-linux)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.cluster.client import KubeClient
from tests.support.cluster.cluster import SimulatedCluster
from tests.support.cluster.network import Network
from tests.support.cluster.node import Node

PROJECT_IMAGE = "registry.example.com/shopfleet:test"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "nft", "nsenter", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


class Sim:
    """An API server, the network, the controllers and the node, started together."""

    def __init__(self, api, kube: KubeClient, network: Network, node: Node, controllers):
        self.api = api
        self.kube = kube
        self.network = network
        self.node = node
        self.controllers = controllers

    async def namespace(self, name: str, labels: dict | None = None) -> str:
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": labels or {}},
            }
        )
        return name

    async def wait_for(
        self, what: str, check: Callable[[], object], within: float = 20.0
    ) -> object:
        """Poll `check` (sync or async) until it returns something truthy."""
        deadline = time.monotonic() + within
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}\n{self.node.describe_failures()}\n"
                    f"controllers: {self.controllers.errors[-5:]}"
                )
            await asyncio.sleep(0.1)

    async def pod(self, ns: str, name: str) -> dict | None:
        return await self.kube.get("v1", "pods", name, ns)

    async def pods(self, ns: str, **labels: str) -> list[dict]:
        pods = await self.kube.list("v1", "pods", ns)
        return [
            p
            for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]

    async def ready_pods(self, ns: str, **labels: str) -> list[dict]:
        return [
            p
            for p in await self.pods(ns, **labels)
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]

    async def exec(self, ns: str, pod: str, container: str, command: list[str], within=10):
        run = self.node.container(ns, pod, container)
        assert run is not None and run.proc is not None, f"{ns}/{pod}/{container} not running"
        return await self.node.exec_in(run, command, within)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the simulated cluster {reason}; CI must run it, not skip it")
        pytest.skip(reason)
    async with SimulatedCluster(tmp_path, backoff_scale=0.1) as cluster:
        yield Sim(cluster.api, cluster.kube, cluster.network, cluster.node, cluster.controllers)
