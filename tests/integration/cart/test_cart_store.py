"""`CartStore` on each StateStore adapter: the key layout, TTLs, and many racing replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from shopfleet.cart.checkout import remember_order_lines
from shopfleet.cart.domain.refusals import CartBusy
from shopfleet.cart.keys import CartRef
from shopfleet.cart.models import StoredCart, StoredLine
from shopfleet.cart.store import CartStore, Change, Loaded
from shopfleet.kit.blocks import StateStore
from tests.integration.cart.conftest import SHOP
from tests.support.clock import FakeClock

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def make_store(state: StateStore, clock: FakeClock, **kw: object) -> CartStore:
    options = {"user_ttl_s": 900, "anonymous_ttl_s": 300, "removed_ttl_s": 600, **kw}
    return CartStore(state, clock=clock, **options)  # type: ignore[arg-type]


def plus_one(product_id: str):
    def change(loaded: Loaded) -> Change:
        line = loaded.cart.line(product_id)
        quantity = (line.quantity if line else 0) + 1
        new = StoredLine(product_id=product_id, quantity=quantity, added_at=NOW)
        others = [x for x in loaded.cart.lines if x.product_id != product_id]
        return Change(StoredCart(lines=[*others, new]))

    return change


async def test_keys_name_shop_and_owner(state: StateStore, clock: FakeClock) -> None:
    store = make_store(state, clock)
    user = CartRef.user(SHOP, "u-1")
    anon = CartRef.anonymous(SHOP, "6F9619FF-8B86-4011-B42D-00C04FC964FF")
    assert user.key == "cart:demo:u:u-1"
    assert anon.key == "cart:demo:a:6f9619ff-8b86-4011-b42d-00c04fc964ff"
    assert user.removed_key == "cart:demo:u:u-1:removed"
    assert user.order_key("o1") == "cart:demo:u:u-1:order:o1"
    with pytest.raises(ValueError):
        anon.order_key("o1")

    saved = await store.write(user, plus_one("p1"))
    item = await state.get(user.key)
    assert item is not None and item.etag == saved.etag
    assert item.value["lines"][0]["quantity"] == 1
    assert await state.get(user.anchor_key) is not None


async def test_carts_expire_by_owner_kind(state: StateStore, clock: FakeClock) -> None:
    store = make_store(state, clock)
    user, anon = CartRef.user(SHOP, "u-1"), CartRef.anonymous(SHOP, str(uuid.uuid4()))
    await store.write(user, plus_one("p1"))
    await store.write(anon, plus_one("p1"))
    clock.advance(301)
    assert (await store.load(anon)).exists is False
    assert (await store.load(user)).exists is True
    clock.advance(600)
    assert (await store.load(user)).exists is False


async def test_many_replicas_racing_on_a_new_cart_lose_nothing(
    state: StateStore, clock: FakeClock
) -> None:
    """20 stores (no shared lock, like 20 pods) each add one unit to a cart not yet stored."""
    ref = CartRef.user(SHOP, "racer")
    stores = [make_store(state, clock) for _ in range(20)]
    await asyncio.gather(*[store.write(ref, plus_one("p1")) for store in stores])
    assert (await stores[0].load(ref)).cart.lines[0].quantity == 20


async def test_gives_up_with_409_after_the_last_attempt(
    state: StateStore, clock: FakeClock
) -> None:
    store = make_store(state, clock, attempts=3, backoff_s=0.0)
    ref = CartRef.user(SHOP, "busy")
    await store.write(ref, plus_one("p1"))
    original = store._apply
    attempts = 0

    async def losing_apply(*args: object) -> object:
        nonlocal attempts
        attempts += 1
        await state.save(ref.key, {"lines": []})  # another writer gets in first, every time
        return await original(*args)  # type: ignore[arg-type]

    store._apply = losing_apply  # type: ignore[method-assign]
    with pytest.raises(CartBusy):
        await store.write(ref, plus_one("p1"))
    assert attempts == 3


async def test_order_lines_are_kept_per_user_with_a_ttl(
    state: StateStore, clock: FakeClock
) -> None:
    await remember_order_lines(
        state, SHOP, "u-1", "o-1", [{"product_id": "abc", "quantity": 2}], ttl_s=60
    )
    key = CartRef.user(SHOP, "u-1").order_key("o-1")
    item = await state.get(key)
    assert item is not None
    assert item.value["lines"] == [{"product_id": "abc", "quantity": 2, "unit_price": None}]
    clock.advance(61)
    assert await state.get(key) is None
