"""Fixtures for the building-block contract suite: every adapter behind the same fixtures.

A contract test uses only the port API plus the small helpers here, for what an adapter
does its own way: letting time pass for TTLs, restarting or crashing a broker, listing
dead letters. A new adapter adds its name to the fixture params and a branch to each.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from shopfleet.devtools.sidecar_double.resources import Resources, parse_component
from shopfleet.kit.blocks.dapr import DaprSecrets, DaprStateStore
from shopfleet.kit.blocks.local import DeadLetter, LocalPubSub, LocalSecrets, LocalStateStore
from shopfleet.kit.blocks.local.secrets import env_name
from shopfleet.kit.blocks.ports import PubSub, Secrets, StateStore
from shopfleet.kit.blocks.redis_state import RedisStateStore
from tests.conftest import PG_HOST, PG_PORT, PG_USER, PostgresDatabases, require_service
from tests.integration.kit.blocks.dapr_harness import APP_ID, HarnessDaprPubSub, sidecar_for
from tests.support.redis import (
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    drop_redis_keys,
    redis_test_prefix,
)
from tests.support.sidecar_double import DoubleRun, require_backends

# ----------------------------------------------------------------------------- state


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class StateHarness:
    store: StateStore
    advance: Callable[[float], Awaitable[None]]  # let `seconds` pass, as TTLs see time


@pytest.fixture(params=["local", "redis", "dapr", "dapr-postgresql"])
async def state_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StateHarness]:
    # Both adapters take the same injected clock: TTL checks use it, so `advance` lets time
    # pass at once. Redis additionally PEXPIREs each TTL item in real time (see
    # test_redis_state.py for that path, run on Redis's own clock).
    clock = FakeClock()

    async def advance(seconds: float) -> None:
        clock.now += seconds

    if request.param == "local":
        store = await LocalStateStore.open(tmp_path / "state.db", clock=clock)
        yield StateHarness(store=store, advance=advance)
        await store.close()
    elif request.param == "redis":
        require_service("Redis", REDIS_HOST, REDIS_PORT)
        redis_store = RedisStateStore(REDIS_URL, key_prefix=redis_test_prefix(), clock=clock)
        try:
            await redis_store.open()
            yield StateHarness(store=redis_store, advance=advance)
        finally:
            await redis_store.close()
            await drop_redis_keys(redis_store.key_pattern)
    elif request.param == "dapr":
        # The Dapr adapter over gRPC to a sidecar double, whose Redis store takes the clock.
        require_backends(rabbitmq=False)
        run = DoubleRun()
        try:
            double = await run.start(APP_ID, pubsubs=(), clock=clock)
            dapr_store = DaprStateStore(sidecar_for(double))
            yield StateHarness(store=dapr_store, advance=advance)
            await dapr_store.close()
        finally:
            await run.cleanup()
    elif request.param == "dapr-postgresql":
        # The same, with the double's `state.postgresql` v2 component on a database of ours.
        require_backends(rabbitmq=False)
        require_service("PostgreSQL", PG_HOST, PG_PORT)
        databases = PostgresDatabases()
        url = await databases.create("daprstate")
        database = url.rsplit("/", 1)[1]
        dsn = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={database}"
        component = {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "statestore"},
            "spec": {
                "type": "state.postgresql",
                "version": "v2",
                "metadata": [
                    {"name": "connectionString", "value": dsn},
                    {"name": "tablePrefix", "value": "dapr_"},
                    {"name": "keyPrefix", "value": "appid"},
                ],
            },
        }
        run = DoubleRun()
        try:
            double = await run.start(
                APP_ID,
                pubsubs=(),
                clock=clock,
                resources=Resources(components=[parse_component(component)]),
            )
            assert double.component_types == {"statestore": ("state.postgresql", "v2")}
            dapr_store = DaprStateStore(sidecar_for(double))
            yield StateHarness(store=dapr_store, advance=advance)
            await dapr_store.close()
        finally:
            await run.cleanup()
            await databases.drop_all()


@pytest.fixture
def state_store(state_harness: StateHarness) -> StateStore:
    return state_harness.store


@pytest.fixture
def advance_time(state_harness: StateHarness) -> Callable[[float], Awaitable[None]]:
    return state_harness.advance


# ----------------------------------------------------------------------------- pub/sub


@dataclass
class PubSubFactory:
    """Makes pub/sub instances on one durable broker; a second `make()` is a restarted process.

    `retry_window_s` is long enough for a rescheduled delivery to have happened, so a test
    can check that something did *not* arrive again.
    """

    _open: Callable[[], Awaitable[PubSub]]
    crash: Callable[[PubSub], Awaitable[None]]  # die at once: in-flight deliveries stay unacked
    dead_letters: Callable[[PubSub], Awaitable[list[DeadLetter]]]
    retry_window_s: float
    made: list[PubSub] = field(default_factory=list)

    async def make(self) -> PubSub:
        pubsub = await self._open()
        self.made.append(pubsub)
        return pubsub


@pytest.fixture(params=["local", "dapr"])
async def pubsub_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[PubSubFactory]:
    if request.param == "local":
        path = tmp_path / "pubsub.db"

        async def open_local() -> PubSub:
            # A long poll proves delivery is driven by wake-ups, never by the fallback poll.
            return await LocalPubSub.open(
                path, retry_base_s=0.01, retry_max_s=0.04, poll_s=30.0, max_concurrency=8
            )

        async def crash(pubsub: PubSub) -> None:
            assert isinstance(pubsub, LocalPubSub)
            await pubsub.stop(grace_s=0)

        async def dead_letters(pubsub: PubSub) -> list[DeadLetter]:
            assert isinstance(pubsub, LocalPubSub)
            return await pubsub.dead_letters()

        factory = PubSubFactory(open_local, crash, dead_letters, retry_window_s=0.2)
        yield factory
        for pubsub in factory.made:
            await pubsub.stop()
    elif request.param == "dapr":
        # Each make() is one app process with its own sidecar double (see dapr_harness.py).
        require_backends()
        run = DoubleRun()

        async def open_dapr() -> PubSub:
            return HarnessDaprPubSub(run)

        async def crash_dapr(pubsub: PubSub) -> None:
            assert isinstance(pubsub, HarnessDaprPubSub)
            await pubsub.crash()

        async def dead_letters_dapr(pubsub: PubSub) -> list[DeadLetter]:
            assert isinstance(pubsub, HarnessDaprPubSub)
            return pubsub.dead_letters()

        factory = PubSubFactory(open_dapr, crash_dapr, dead_letters_dapr, retry_window_s=0.3)
        try:
            yield factory
            for pubsub in factory.made:
                await pubsub.stop()
        finally:
            await run.cleanup()


# ----------------------------------------------------------------------------- secrets


@dataclass
class SecretsHarness:
    secrets: Secrets
    store: Callable[[str, str, str], Awaitable[None]]  # how an operator sets a shop's secret
    override: Callable[[str, str, str], None] | None  # a deployment-level override, if any


@pytest.fixture(params=["local", "dapr"])
async def secrets_harness(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SecretsHarness]:
    if request.param == "local":
        local = LocalSecrets(tmp_path / "secrets.json")

        def override(shop: str, name: str, value: str) -> None:
            monkeypatch.setenv(env_name(shop, name), value)

        yield SecretsHarness(secrets=local, store=local.put, override=override)
    elif request.param == "dapr":
        # As the operator does: one Secret `shop-<shop>` per shop, a key per secret; the
        # double's file-backed secret store stands in for Kubernetes.
        require_backends(rabbitmq=False)
        path = tmp_path / "k8s-secrets.json"
        run = DoubleRun()
        try:
            double = await run.start(APP_ID, pubsubs=(), secrets_file=path)

            async def store_secret(shop: str, name: str, value: str) -> None:
                data = orjson.loads(path.read_bytes()) if path.exists() else {}
                data.setdefault(f"shop-{shop}", {})[name] = value
                path.write_bytes(orjson.dumps(data))

            dapr_secrets = DaprSecrets(sidecar_for(double))
            yield SecretsHarness(secrets=dapr_secrets, store=store_secret, override=None)
            await dapr_secrets.close()
        finally:
            await run.cleanup()


@pytest.fixture
def secrets(secrets_harness: SecretsHarness) -> Secrets:
    return secrets_harness.secrets
