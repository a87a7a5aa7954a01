"""The polling reconciler: settles payments and refunds whose webhook never came."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from shopfleet.payments.service import PaymentsService

log = structlog.get_logger("shopfleet.payments.reconciler")


class Reconciler:
    def __init__(self, payments: PaymentsService, interval_s: float) -> None:
        self.payments, self.interval_s = payments, interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="payments-reconciler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.payments.drain()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                settled = await self.payments.reconcile_once()
            except Exception:
                log.exception("reconcile round failed")
            else:
                if settled:
                    log.info("reconciled", checked=settled)
