"""Writes that arrive while one is in flight go together in the next (a group commit).

`await writes.add(item)` returns once `item` is written. The first item is written at once
(after one turn of the event loop, so that items ready in the same turn join it); items
added while that write runs wait for it and go in one write after it. Under load that is
one transaction for many items; alone, an item waits for nothing but its own write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchedWrites(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[None]]) -> None:
        """`write` writes a batch in one transaction (all of it or, raising, none)."""
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        """Write `item` with whatever else is waiting; raises what its batch's write raised."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="batched-writes")
        await asyncio.shield(done)  # a cancelled caller does not cancel its batch's write

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            await asyncio.sleep(0)
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._write([item for item, _ in batch])
                except Exception as exc:
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
        except BaseException:  # cancelled (shutdown): nobody may wait for ever
            _settle([*batch, *self._waiting], RuntimeError("the write was cancelled"))
            self._waiting = []
            raise


def _settle(batch: list[tuple[T, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
