"""The Redis StateStore beyond the shared contract: key prefixes, real expiry, failures.

The contract suite runs the Redis adapter on an injected clock; the TTL tests here run it
on Redis's own clock and real PEXPIRE. The edge cases at the end run on both adapters
(through `state_store`) to pin down that Redis behaves exactly like the local one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from shopfleet.kit.blocks.ports import ETagMismatch, StateOp, StateStore
from shopfleet.kit.blocks.redis_state import RedisStateStore, StateStoreUnavailable
from tests.conftest import require_service
from tests.support.redis import (
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    drop_redis_keys,
    redis_test_prefix,
)

MakeStore = Callable[..., RedisStateStore]


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at what the adapter stored."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def make_store(admin: aioredis.Redis) -> AsyncIterator[MakeStore]:
    """Opens Redis stores (on Redis's clock unless told); closes them and drops their keys."""
    made: list[RedisStateStore] = []

    def make(*, key_prefix: str | None = None, **options: object) -> RedisStateStore:
        store = RedisStateStore(REDIS_URL, key_prefix=key_prefix or redis_test_prefix(), **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()
        await drop_redis_keys(store.key_pattern)


async def test_two_key_prefixes_do_not_see_each_others_keys(
    make_store: MakeStore, admin: aioredis.Redis
) -> None:
    base = redis_test_prefix()
    one = await make_store(key_prefix=base).open()
    two = await make_store(key_prefix=f"{base}-2").open()  # one's prefix is a prefix of two's
    etag = await one.save("cart:acme:u1", {"v": 1})
    await one.save("x", 1)

    assert await two.get("cart:acme:u1") is None
    assert await two.get_bulk(["cart:acme:u1", "x"]) == {}
    with pytest.raises(ETagMismatch):
        await two.save("cart:acme:u1", {"v": 2}, etag=etag)
    with pytest.raises(ETagMismatch):
        await two.delete("cart:acme:u1", etag=etag)
    await two.delete("cart:acme:u1")
    await two.transact([StateOp.remove("x"), StateOp.upsert("y", 2)])

    item = await one.get("cart:acme:u1")
    assert item is not None and item.value == {"v": 1} and item.etag == etag
    assert set(await one.get_bulk(["x", "y"])) == {"x"}
    assert sorted([k async for k in admin.scan_iter(match=one.key_pattern)]) == [
        f"{base}||cart:acme:u1".encode(),
        f"{base}||x".encode(),
    ]
    assert [k async for k in admin.scan_iter(match=two.key_pattern)] == [f"{base}-2||y".encode()]


async def test_item_is_a_hash_with_value_etag_and_deadline(
    make_store: MakeStore, admin: aioredis.Redis
) -> None:
    store = await make_store().open()

    etag = await store.save("k", {"a": [1, 2]}, ttl_s=60)

    stored = await admin.hgetall(store.redis_key("k"))
    assert stored[b"v"] == orjson.dumps({"a": [1, 2]}) and stored[b"e"] == etag.encode()
    assert int(stored[b"x"]) > 0
    assert 59_000 < await admin.pttl(store.redis_key("k")) <= 60_000


async def test_ttl_expires_on_redis_clock(make_store: MakeStore, admin: aioredis.Redis) -> None:
    store = await make_store().open()  # no injected clock: Redis's TIME and real PEXPIRE
    etag = await store.save("session", {"user": "u1"}, ttl_s=1)
    kept = await store.save("kept", 1, ttl_s=3600)
    assert await store.get("session") is not None

    await asyncio.sleep(1.05)

    assert await store.get("session") is None
    assert set(await store.get_bulk(["session", "kept"])) == {"kept"}
    with pytest.raises(ETagMismatch):
        await store.save("session", {"user": "u2"}, etag=etag)
    assert await admin.exists(store.redis_key("session")) == 0  # gone from Redis, not hidden
    item = await store.get("kept")
    assert item is not None and item.etag == kept


async def test_save_without_ttl_clears_an_earlier_ttl(
    make_store: MakeStore, admin: aioredis.Redis
) -> None:
    store = await make_store().open()
    etag = await store.save("k", 1, ttl_s=1)

    await store.save("k", 2, etag=etag)
    await asyncio.sleep(1.05)

    item = await store.get("k")
    assert item is not None and item.value == 2
    assert await admin.pttl(store.redis_key("k")) == -1  # persistent
    assert b"x" not in await admin.hgetall(store.redis_key("k"))


async def test_many_concurrent_writers_with_one_etag_exactly_one_wins(
    make_store: MakeStore,
) -> None:
    store = await make_store().open()
    etag = await store.save("cart", {"n": 0})

    results = await asyncio.gather(
        *(store.save("cart", {"n": n}, etag=etag) for n in range(1, 21)),
        return_exceptions=True,
    )

    winners = [(n, r) for n, r in enumerate(results, start=1) if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, ETagMismatch) for r in results if not isinstance(r, str))
    item = await store.get("cart")
    assert item is not None and item.value == {"n": winners[0][0]} and item.etag == winners[0][1]


async def test_foreign_key_under_the_prefix_fails_the_transaction_before_any_write(
    make_store: MakeStore, admin: aioredis.Redis
) -> None:
    store = await make_store().open()
    await admin.set(store.redis_key("foreign"), "not a hash")

    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await store.transact([StateOp.upsert("a", 1), StateOp.upsert("foreign", 2, etag="e")])

    assert await store.get("a") is None
    assert await admin.get(store.redis_key("foreign")) == b"not a hash"


async def test_unreachable_redis_raises_state_store_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisStateStore(f"redis://shop:s3cret@127.0.0.1:{port}/0", key_prefix="nobody")
    calls: list[Callable[[], Awaitable[object]]] = [
        store.open,
        lambda: store.get("k"),
        lambda: store.save("k", 1),
        lambda: store.transact([StateOp.remove("k")]),
    ]
    try:
        for call in calls:
            with pytest.raises(StateStoreUnavailable) as caught:
                await call()
            assert isinstance(caught.value, ConnectionError)  # the builtin: no redis import
            assert f"redis://shop:***@127.0.0.1:{port}/0" in str(caught.value)
            assert "s3cret" not in str(caught.value)
            assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    finally:
        await store.close()


async def test_connection_closed_by_redis_is_replaced_before_the_next_call(
    make_store: MakeStore, admin: aioredis.Redis
) -> None:
    prefix = redis_test_prefix()
    store = await make_store(key_prefix=prefix).open()
    etag = await store.save("k", 1)

    for client in await admin.client_list():  # as a Redis restart or idle timeout would
        if client["name"] == f"shopfleet-state-{prefix}":
            await admin.client_kill_filter(_id=client["id"])

    etag = await store.save("k", 2, etag=etag)  # a write: sent once, on a fresh connection
    item = await store.get("k")
    assert item is not None and item.value == 2 and item.etag == etag


def test_key_prefix_must_be_plain() -> None:
    for bad in ("", "a||b", "a*", "a b", "{tag}"):
        with pytest.raises(ValueError, match="key_prefix"):
            RedisStateStore(REDIS_URL, key_prefix=bad)


# ----------------------------------------------------------------------------- both adapters


async def test_key_written_twice_in_a_transaction_is_checked_in_order(
    state_store: StateStore,
) -> None:
    etag = await state_store.save("a", 1)

    with pytest.raises(ETagMismatch):  # the first op changes a's ETag before the second
        await state_store.transact(
            [StateOp.upsert("a", 2, etag=etag), StateOp.upsert("a", 3, etag=etag)]
        )
    with pytest.raises(ETagMismatch):
        await state_store.transact([StateOp.remove("a", etag=etag), StateOp.remove("a", etag=etag)])
    item = await state_store.get("a")
    assert item is not None and item.value == 1 and item.etag == etag

    await state_store.transact(
        [StateOp.upsert("a", 2, etag=etag), StateOp.upsert("a", 3), StateOp.upsert("b", 1)]
    )
    await state_store.transact([StateOp.upsert("c", 1), StateOp.remove("c")])
    items = await state_store.get_bulk(["a", "b", "c"])
    assert {key: item.value for key, item in items.items()} == {"a": 3, "b": 1}


async def test_empty_etag_never_matches(state_store: StateStore) -> None:
    await state_store.save("k", 1)

    with pytest.raises(ETagMismatch):
        await state_store.save("k", 2, etag="")
    with pytest.raises(ETagMismatch):
        await state_store.delete("k", etag="")


async def test_invalid_op_in_a_transaction_changes_nothing(state_store: StateStore) -> None:
    bad_ops = [
        (StateOp.upsert("", 1), ValueError),
        (StateOp.upsert("x", 1, ttl_s=0), ValueError),
        (StateOp.upsert("x", {"when": object()}), TypeError),
    ]
    for bad, error in bad_ops:
        with pytest.raises(error):
            await state_store.transact([StateOp.upsert("a", 1), bad])

    assert await state_store.get_bulk(["a", "x"]) == {}
    assert await state_store.get("") is None


async def test_transaction_ttl_applies_per_op(
    state_store: StateStore, advance_time: Callable[[float], Awaitable[None]]
) -> None:
    await state_store.transact([StateOp.upsert("short", 1, ttl_s=1), StateOp.upsert("long", 2)])

    await advance_time(2)

    assert set(await state_store.get_bulk(["short", "long"])) == {"long"}
