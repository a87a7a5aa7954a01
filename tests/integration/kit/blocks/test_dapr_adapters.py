"""What the Dapr adapters do beyond the shared contract: metadata on the wire, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from shopfleet.devtools.sidecar_double import SidecarDouble
from shopfleet.kit.blocks.dapr import DaprSecrets, DaprSidecar, DaprStateStore
from shopfleet.kit.blocks.ports import StateOp, StateStoreUnavailable
from tests.support.redis import REDIS_URL
from tests.support.server import free_port
from tests.support.sidecar_double import DoubleRun, require_backends

from .dapr_harness import APP_ID, sidecar_for


@pytest.fixture
async def double() -> AsyncIterator[SidecarDouble]:
    require_backends(rabbitmq=False)
    run = DoubleRun()
    try:
        yield await run.start(APP_ID, pubsubs=())
    finally:
        await run.cleanup()


@pytest.fixture
async def store(double: SidecarDouble) -> AsyncIterator[DaprStateStore]:
    store = DaprStateStore(sidecar_for(double))
    yield store
    await store.close()


async def redis_ttl_ms(double: SidecarDouble, key: str) -> int:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return int(await client.pttl(double.state.redis_key(key)))
    finally:
        await client.aclose()


async def test_ttl_travels_as_ttl_in_seconds_metadata_to_the_store(
    store: DaprStateStore, double: SidecarDouble
) -> None:
    await store.save("session:acme:u1", {"user": "u1"}, ttl_s=30)
    await store.transact([StateOp.upsert("idem:acme:k1", {"status": 201}, ttl_s=90)])
    await store.save("cart:acme:u1", {"items": []})

    assert 0 < await redis_ttl_ms(double, "session:acme:u1") <= 30_000
    assert 30_000 < await redis_ttl_ms(double, "idem:acme:k1") <= 90_000
    assert await redis_ttl_ms(double, "cart:acme:u1") == -1  # no TTL: kept until deleted


async def test_keys_are_namespaced_by_the_sidecar_under_the_app_id(
    store: DaprStateStore, double: SidecarDouble
) -> None:
    await store.save("cart:acme:u1", {"items": []})

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"{double.config.prefix}*||*")]
    finally:
        await client.aclose()
    assert keys == [f"{double.config.prefix}{APP_ID}||cart:acme:u1"]


async def test_key_with_daprs_separator_is_rejected_before_any_call(store: DaprStateStore) -> None:
    with pytest.raises(ValueError, match=r"\|\|"):
        await store.save("cart||acme", {"items": []})


async def test_state_store_without_a_sidecar_is_unavailable() -> None:
    sidecar = DaprSidecar(
        app_id=APP_ID, grpc_port=free_port(), http_port=free_port(), ready_timeout_s=0.3
    )
    store = DaprStateStore(sidecar)
    try:
        with pytest.raises(StateStoreUnavailable, match="not ready"):
            await store.get("cart:acme:u1")
    finally:
        await store.close()


async def test_unknown_state_store_name_is_an_error_not_a_miss(double: SidecarDouble) -> None:
    store = DaprStateStore(sidecar_for(double), "carts-typo")
    try:
        with pytest.raises(Exception, match="state store carts-typo is not found"):
            await store.get("cart:acme:u1")
    finally:
        await store.close()


async def test_secret_store_misconfiguration_is_an_error_not_a_missing_secret(
    double: SidecarDouble,
) -> None:
    secrets = DaprSecrets(sidecar_for(double), "vault-typo")

    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await secrets.get("acme", "stripe_api_key")
    finally:
        await secrets.close()

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
