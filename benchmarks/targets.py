"""The apps the benchmarks serve, each in its own uvicorn process (one worker).

- `bare`: a bare FastAPI JSON endpoint, the baseline every ratio is taken against.
- `gateway`: the gateway verifying a bearer token and forwarding to a trivial upstream
  route over the local (in-process) invoker, as in the embedded platform.
- `me`: the embedded platform answering `GET /users/me` (gateway + identity on SQLite).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.contracts.sessions import SessionChanges
from shopfleet.kit.sessions import SessionView
from shopfleet.kit.settings import PlatformSettings
from tests.support.tokens import TokenMint

SHOP = "bench"
PLATFORM_TOKEN = "bench-platform-token"


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def _settings(data_dir: Path) -> PlatformSettings:
    return PlatformSettings(
        data_dir=data_dir,
        platform_token=SecretStr(PLATFORM_TOKEN),
        log_level="WARNING",
    )


def gateway_settings(data_dir: Path, *, access_log: bool) -> GatewaySettings:
    """Rate limits out of the way: the benchmarks measure forwarding, not the 429 path."""
    platform = _settings(data_dir).model_copy(update={"access_log": access_log})
    unlimited = {"client_rate_per_s": 1e9, "client_burst": 10**9}
    return GatewaySettings(platform=platform, **unlimited, shop_rate_per_s=1e9, shop_burst=10**9)


def gateway_app(data_dir: Path, *, access_log: bool) -> tuple[object, str]:
    """The gateway in front of one trivial upstream route; returns (app, bearer token)."""
    from shopfleet.gateway.app import Gateway
    from shopfleet.gateway.routes import RouteFile
    from shopfleet.kit.auth import SHOP_API_PREFIX
    from shopfleet.kit.blocks import Blocks
    from shopfleet.kit.blocks.local.invoker import LocalInvoker
    from shopfleet.kit.contracts.routes import Route
    from shopfleet.kit.errors import install_problem_handlers
    from shopfleet.kit.telemetry import RequestContext

    settings = gateway_settings(data_dir, access_log=access_log)
    RouteFile(settings.resolved_routes_file()).put(SHOP, Route())
    upstream = FastAPI()
    install_problem_handlers(upstream)

    @upstream.get(SHOP_API_PREFIX + "/users/ping")
    async def ping(shop: str) -> dict[str, str]:
        return {"shop": shop}

    invoker = LocalInvoker()
    invoker.register("identity", RequestContext(upstream, service="identity", access_log=False))
    mint = TokenMint()
    blocks = Blocks(state=None, pubsub=None, invoker=invoker, secrets=None)  # type: ignore[arg-type]
    verifier = mint.verifier(SessionView(_no_session_changes))  # polled each second, as in up
    gateway = Gateway(settings, blocks, services=frozenset({"identity"}), verifier=verifier)
    return gateway, mint.token(shop=SHOP, ttl_s=3600)


async def _no_session_changes(since: float) -> SessionChanges:
    """Identity's session feed on a quiet day: nobody logged out or lost a role."""
    return SessionChanges(as_of=time.time(), retention_s=960, changes=[])


class PlatformWithUser:
    """The embedded platform, plus a registered user whose token the benchmark sends."""

    def __init__(self, data_dir: Path, *, access_log: bool) -> None:
        from shopfleet.platform import EmbeddedPlatform

        gateway = gateway_settings(data_dir, access_log=access_log)
        self.platform = EmbeddedPlatform(gateway.platform, gateway_settings=gateway, freeze_gc=True)
        self.token = ""

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.platform.running():
            transport = httpx.ASGITransport(self.platform.gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                api = "/shops/demo/api/v1"
                creds = {"email": "bench@example.com", "password": "benchmark password"}
                await client.post(f"{api}/auth/register", json={**creds, "display_name": "Bench"})
                answer = await client.post(f"{api}/auth/login", json=creds)
                answer.raise_for_status()
                self.token = answer.json()["access_token"]
            yield


def make_temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="shopfleet-bench-"))


if __name__ == "__main__":  # pragma: no cover - see run.py
    asyncio.run(asyncio.sleep(0))
