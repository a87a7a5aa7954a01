"""The StateStore contract: ETags, TTL, bulk reads and transactions, for every adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from shopfleet.kit.blocks.ports import ETagMismatch, StateOp, StateStore

Advance = Callable[[float], Awaitable[None]]

NESTED = {
    "items": [{"sku": "TSHIRT-M", "qty": 2, "price": {"amount": 1999, "currency": "EUR"}}],
    "note": "Größe M, bitte — 🎁 als Geschenk",
    "coupon": None,
    "gift": True,
    "weight_kg": 0.45,
    "big": 2**53 + 1,
}


async def test_saved_value_round_trips_as_json(state_store: StateStore) -> None:
    etag = await state_store.save("cart:acme:u1", NESTED)

    item = await state_store.get("cart:acme:u1")

    assert item is not None
    assert item.key == "cart:acme:u1"
    assert item.value == NESTED
    assert item.etag == etag


@pytest.mark.parametrize("value", [[1, "two", [3.5]], "plain text", 0, False, None])
async def test_any_json_value_round_trips(state_store: StateStore, value: object) -> None:
    await state_store.save("k", value)

    item = await state_store.get("k")

    assert item is not None and item.value == value


async def test_value_that_is_not_json_is_rejected(state_store: StateStore) -> None:
    with pytest.raises(TypeError):
        await state_store.save("k", {"when": object()})

    assert await state_store.get("k") is None


async def test_get_of_missing_key_is_none(state_store: StateStore) -> None:
    assert await state_store.get("never-written") is None


async def test_save_without_etag_is_last_write_wins(state_store: StateStore) -> None:
    first = await state_store.save("k", {"v": 1})
    second = await state_store.save("k", {"v": 2})

    item = await state_store.get("k")

    assert item is not None and item.value == {"v": 2}
    assert item.etag == second != first


async def test_save_with_current_etag_succeeds_and_changes_it(state_store: StateStore) -> None:
    first = await state_store.save("k", {"v": 1})

    second = await state_store.save("k", {"v": 2}, etag=first)

    assert second != first
    item = await state_store.get("k")
    assert item is not None and item.value == {"v": 2} and item.etag == second


async def test_two_writers_with_same_etag_first_wins(state_store: StateStore) -> None:
    etag = await state_store.save("cart", {"items": []})

    results = await asyncio.gather(
        state_store.save("cart", {"items": ["a"]}, etag=etag),
        state_store.save("cart", {"items": ["b"]}, etag=etag),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, ETagMismatch)]
    assert len(winners) == 1 and len(losers) == 1
    item = await state_store.get("cart")
    assert item is not None and item.etag == winners[0]
    expected = {"items": ["a"]} if isinstance(results[0], str) else {"items": ["b"]}
    assert item.value == expected


async def test_save_with_stale_etag_fails_and_keeps_value(state_store: StateStore) -> None:
    stale = await state_store.save("k", {"v": 1})
    await state_store.save("k", {"v": 2})

    with pytest.raises(ETagMismatch):
        await state_store.save("k", {"v": 3}, etag=stale)

    item = await state_store.get("k")
    assert item is not None and item.value == {"v": 2}


async def test_save_with_etag_on_missing_key_fails(state_store: StateStore) -> None:
    with pytest.raises(ETagMismatch):
        await state_store.save("k", {"v": 1}, etag="some-etag")

    assert await state_store.get("k") is None


async def test_etag_of_deleted_item_does_not_match_a_new_one(state_store: StateStore) -> None:
    old = await state_store.save("k", {"v": 1})
    await state_store.delete("k")
    await state_store.save("k", {"v": 2})

    with pytest.raises(ETagMismatch):
        await state_store.save("k", {"v": 3}, etag=old)


async def test_delete_without_etag_removes_and_ignores_missing(state_store: StateStore) -> None:
    await state_store.save("k", {"v": 1})

    await state_store.delete("k")
    await state_store.delete("k")  # already gone: no error

    assert await state_store.get("k") is None


async def test_delete_with_stale_etag_fails_and_keeps_item(state_store: StateStore) -> None:
    stale = await state_store.save("k", {"v": 1})
    current = await state_store.save("k", {"v": 2})

    with pytest.raises(ETagMismatch):
        await state_store.delete("k", etag=stale)
    assert await state_store.get("k") is not None

    await state_store.delete("k", etag=current)
    assert await state_store.get("k") is None


async def test_delete_with_etag_on_missing_key_fails(state_store: StateStore) -> None:
    with pytest.raises(ETagMismatch):
        await state_store.delete("k", etag="some-etag")


async def test_item_with_ttl_disappears_after_it(
    state_store: StateStore, advance_time: Advance
) -> None:
    etag = await state_store.save("session", {"user": "u1"}, ttl_s=1)
    assert await state_store.get("session") is not None

    await advance_time(2)

    assert await state_store.get("session") is None
    assert await state_store.get_bulk(["session"]) == {}
    with pytest.raises(ETagMismatch):
        await state_store.save("session", {"user": "u2"}, etag=etag)
    with pytest.raises(ETagMismatch):
        await state_store.delete("session", etag=etag)


async def test_expired_key_can_be_written_again(
    state_store: StateStore, advance_time: Advance
) -> None:
    await state_store.save("k", {"v": 1}, ttl_s=1)
    await advance_time(2)

    etag = await state_store.save("k", {"v": 2})
    await advance_time(2)

    item = await state_store.get("k")
    assert item is not None and item.value == {"v": 2} and item.etag == etag


async def test_get_bulk_returns_only_live_items(
    state_store: StateStore, advance_time: Advance
) -> None:
    kept = await state_store.save("a", {"v": "a"})
    await state_store.save("b", {"v": "b"}, ttl_s=1)
    long_lived = await state_store.save("c", [1, 2], ttl_s=3600)
    await advance_time(2)

    items = await state_store.get_bulk(["a", "b", "c", "missing"])

    assert set(items) == {"a", "c"}
    assert items["a"].value == {"v": "a"} and items["a"].etag == kept
    assert items["c"].value == [1, 2] and items["c"].etag == long_lived


async def test_get_bulk_of_nothing_is_empty(state_store: StateStore) -> None:
    assert await state_store.get_bulk([]) == {}


async def test_transaction_applies_every_op(state_store: StateStore) -> None:
    etag_a = await state_store.save("a", 1)
    etag_b = await state_store.save("b", 2)

    await state_store.transact(
        [
            StateOp.upsert("a", 10, etag=etag_a),
            StateOp.remove("b", etag=etag_b),
            StateOp.upsert("c", {"new": True}),
        ]
    )

    items = await state_store.get_bulk(["a", "b", "c"])
    assert {key: item.value for key, item in items.items()} == {"a": 10, "c": {"new": True}}
    assert items["a"].etag != etag_a


async def test_transaction_with_one_bad_etag_changes_nothing(state_store: StateStore) -> None:
    etag_a = await state_store.save("a", 1)
    await state_store.save("b", 2)

    with pytest.raises(ETagMismatch):
        await state_store.transact(
            [
                StateOp.upsert("a", 10, etag=etag_a),
                StateOp.remove("b"),
                StateOp.upsert("c", 3),
                StateOp.upsert("d", 4, etag="stale"),
            ]
        )

    items = await state_store.get_bulk(["a", "b", "c", "d"])
    assert {key: item.value for key, item in items.items()} == {"a": 1, "b": 2}
    assert items["a"].etag == etag_a
