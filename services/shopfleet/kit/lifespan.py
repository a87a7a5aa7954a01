"""Answer the ASGI lifespan protocol around an async context manager.

The embedded platform and `shopfleet serve` are plain ASGI apps whose start-up is an
`async with running():` block; uvicorn drives it through these messages.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import structlog
from starlette.types import Receive, Send

log = structlog.get_logger("shopfleet.lifespan")


async def answer_lifespan(
    receive: Receive,
    send: Send,
    running: Callable[[], AbstractAsyncContextManager[Any]],
    *,
    name: str,
    **fields: Any,
) -> None:
    """Enter `running()` on `lifespan.startup`, leave it on `lifespan.shutdown`; logs
    `<name>.start_failed` and `<name>.stopped` with `fields`."""
    stack = AsyncExitStack()
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await stack.enter_async_context(running())
            except Exception as exc:
                log.exception(f"{name}.start_failed", **fields)
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stack.aclose()
            log.info(f"{name}.stopped", **fields)
            await send({"type": "lifespan.shutdown.complete"})
            return
