"""The security tier: attacks on the platform as a shopper, an outsider or a tenant would
make them, against both ways the platform runs.

`target` is the platform under attack, once per kind (package scope: started once each):

- `embedded`: `shopfleet up`'s platform (one process, local blocks) served by uvicorn on
  a loopback port;
- `multiprocess`: every service in its own process behind its own Dapr sidecar double,
  the gateway in Dapr mode, as in a cluster.

A test takes `target` (or `client`) and so runs on both; one that only makes sense on one
kind says so with `only(target, "embedded")`. Every test names the hole it guards in its
docstring (issue 12's numbering).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.devtools.sidecar_double.config import INVOCATION_LOG_KEY
from shopfleet.platform import DemoCredentials, EmbeddedPlatform
from tests.conftest import PostgresDatabases
from tests.support.multiprocess import multiprocess_platform
from tests.support.platform import PLATFORM_TOKEN, make_platform
from tests.support.redis import REDIS_URL
from tests.support.server import free_port, serving

Kind = Literal["embedded", "multiprocess"]
KINDS: tuple[Kind, ...] = ("embedded", "multiprocess")
API = "/shops/demo/api/v1"
# A head timeout short enough for the slow-header attacks to see it end (both kinds).
SERVER_LIMITS = {"http_header_timeout_s": 3.0}


@dataclass(frozen=True)
class Target:
    kind: Kind
    url: str  # the gateway's base URL
    demo: DemoCredentials
    platform: EmbeddedPlatform | MultiProcessPlatform
    platform_token: str = PLATFORM_TOKEN

    def client(self, **options: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **options)  # type: ignore[arg-type]


def only(target: Target, kind: Kind) -> None:
    if target.kind != kind:
        pytest.skip(f"applies to the {kind} platform only")


@pytest.fixture(scope="package", params=KINDS)
async def target(
    request: pytest.FixtureRequest,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Target]:
    kind: Kind = request.param
    if kind == "embedded":
        # The rate limits stay at their defaults except per client: attacks come in bursts.
        embedded = make_platform(
            tmp_path_factory.mktemp("security-embedded") / "data",
            client_rate_per_s=1_000_000,
            client_burst=1_000_000,
        )
        served = embedded.platform.model_copy(update=SERVER_LIMITS)
        async with serving(embedded, free_port(), settings=served) as url:
            assert embedded.demo is not None
            yield Target(kind, url, embedded.demo, embedded)
        return
    env = {f"SHOPFLEET_{k.upper()}": str(v) for k, v in SERVER_LIMITS.items()}
    async with multiprocess_platform(
        postgres,
        tmp_path_factory.mktemp("security-mp"),
        env,
        sidecar_args=("--record-invocations",),
    ) as (started, _):
        assert started.demo is not None
        yield Target(kind, started.url, started.demo, started)


@pytest.fixture
async def client(target: Target) -> AsyncIterator[httpx.AsyncClient]:
    async with target.client() as http:
        yield http


@dataclass(frozen=True)
class Delivery:
    """One call that reached a service app: what the app was asked for."""

    app_id: str
    method: str
    path: str  # as the app received it (raw, query included)


class UpstreamLog:
    """What reached the service apps behind the gateway, for asserting on what an attack
    got through, not only on the status code it was answered with.

    Embedded: every invocation the in-process invoker carried. Multi-process: every call a
    sidecar double delivered to its app (`--record-invocations`).
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self._embedded: list[Delivery] = []
        self._redis: aioredis.Redis | None = None
        self._key = ""

    async def __aenter__(self) -> UpstreamLog:
        platform = self.target.platform
        if isinstance(platform, EmbeddedPlatform):
            assert platform.blocks is not None
            invoker = platform.blocks.invoker
            real = type(invoker).invoke

            async def recording(app_id: str, method: str, path: str, **kw: object):  # type: ignore[no-untyped-def]
                query = kw.get("query") or ""
                self._embedded.append(
                    Delivery(app_id, method, f"{path}?{query}" if query else path)
                )
                return await real(invoker, app_id, method, path, **kw)  # type: ignore[arg-type]

            invoker.invoke = recording  # type: ignore[method-assign]
        else:
            self._redis = aioredis.Redis.from_url(REDIS_URL)
            self._key = f"{platform.options.prefix}{INVOCATION_LOG_KEY}"
            await self._redis.delete(self._key)
        return self

    async def __aexit__(self, *exc: object) -> None:
        platform = self.target.platform
        if isinstance(platform, EmbeddedPlatform):
            assert platform.blocks is not None
            del platform.blocks.invoker.invoke  # type: ignore[attr-defined]
        elif self._redis is not None:
            await self._redis.aclose()

    async def deliveries(self) -> list[Delivery]:
        if self._redis is None:
            return list(self._embedded)
        raw = await self._redis.lrange(self._key, 0, -1)
        return [Delivery(**orjson.loads(item)) for item in raw]


@pytest.fixture
async def upstream(target: Target) -> AsyncIterator[UpstreamLog]:
    async with UpstreamLog(target) as log:
        yield log
