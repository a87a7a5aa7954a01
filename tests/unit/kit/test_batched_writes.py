"""Batched writes: items added while a write runs go together in the next one; each caller
returns once its item is written, or gets its batch's error."""

from __future__ import annotations

import asyncio

import pytest

from shopfleet.kit.batched_writes import BatchedWrites


class Store:
    """Writes batches; the first write waits for `gate` when given one."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate
        self.writing = asyncio.Event()
        self.fail_with: Exception | None = None

    async def write(self, batch: list[str]) -> None:
        self.writing.set()
        if self.gate is not None and not self.batches:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(batch)


async def test_items_added_in_one_turn_are_written_together() -> None:
    store = Store()
    writes = BatchedWrites(store.write)
    await asyncio.gather(*(writes.add(item) for item in "abc"))
    assert store.batches == [["a", "b", "c"]]


async def test_items_added_during_a_write_go_together_in_the_next() -> None:
    gate = asyncio.Event()
    store = Store(gate)
    writes = BatchedWrites(store.write)
    first = asyncio.create_task(writes.add("a"))
    await store.writing.wait()
    later = [asyncio.create_task(writes.add(item)) for item in "bcd"]
    await asyncio.sleep(0)
    assert not first.done()  # returns only once written
    gate.set()
    await asyncio.gather(first, *later)
    assert store.batches == [["a"], ["b", "c", "d"]]


async def test_a_failed_write_fails_its_batch_and_not_the_next() -> None:
    store = Store()
    writes = BatchedWrites(store.write)
    store.fail_with = RuntimeError("database is locked")
    results = await asyncio.gather(writes.add("a"), writes.add("b"), return_exceptions=True)
    assert [str(result) for result in results] == ["database is locked"] * 2
    store.fail_with = None
    await writes.add("c")
    assert store.batches == [["c"]]


async def test_a_cancelled_caller_does_not_cancel_the_write() -> None:
    gate = asyncio.Event()
    store = Store(gate)
    writes = BatchedWrites(store.write)
    caller = asyncio.create_task(writes.add("a"))
    await store.writing.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    await writes.add("b")
    assert store.batches == [["a"], ["b"]]
