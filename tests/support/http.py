"""HTTP helpers for tests of a service's API: shop URLs, token headers, running apps."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from shopfleet.kit.auth import SHOP_API_PREFIX
from shopfleet.kit.blocks import Blocks, PubSub
from shopfleet.kit.blocks.local import LocalSecrets, LocalStateStore
from shopfleet.kit.blocks.local.invoker import LocalInvoker


def shop_api(shop: str, path: str) -> str:
    """The URL of `path` in `shop`'s API."""
    return SHOP_API_PREFIX.replace("{shop}", shop) + path


def bearer(token: str) -> dict[str, str]:
    """The headers that present `token`."""
    return {"Authorization": f"Bearer {token}"}


class LocalBlocks:
    """`async with LocalBlocks(tmp_path, pubsub) as blocks`: local state, invoker and
    secrets around the given pub/sub; the state store is closed at the end."""

    def __init__(self, tmp_path: Path, pubsub: PubSub) -> None:
        self.path, self.pubsub = tmp_path / "state.db", pubsub

    async def __aenter__(self) -> Blocks:
        self.state = await LocalStateStore.open(self.path)
        return Blocks(
            state=self.state, pubsub=self.pubsub, invoker=LocalInvoker(), secrets=LocalSecrets()
        )

    async def __aexit__(self, *exc: object) -> None:
        await self.state.close()


class RunningApps:
    """Starts apps (lifespan and all) with a client each; at the end of `async with`,
    closes the clients, then stops the apps newest first."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.managers: list[LifespanManager] = []
        self.clients: list[httpx.AsyncClient] = []

    async def start(self, app: FastAPI) -> httpx.AsyncClient:
        manager = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)  # loaded CI
        await manager.__aenter__()
        self.managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url=self.base_url
        )
        self.clients.append(client)
        return client

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.aclose()
        for manager in reversed(self.managers):
            await manager.__aexit__(None, None, None)
