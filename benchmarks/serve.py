"""Serve one benchmark target with uvicorn (one worker, uvloop, httptools; the platform's
targets through kit/server.py's configuration, as `shopfleet up` serves them).

`python -m benchmarks.serve <bare|gateway|me> --port N --token-file F` writes the bearer
token the load generator must send to F once the app has started.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from benchmarks import targets
from shopfleet.kit.server import server_config
from shopfleet.kit.settings import PlatformSettings
from shopfleet.kit.telemetry import configure_logging


class WithLifespan:
    """Run `lifespan()` around the server's life, then write the token for the driver."""

    def __init__(
        self,
        app: ASGIApp,
        lifespan: Callable[[], AbstractAsyncContextManager[None]],
        on_ready: Callable[[], None],
    ) -> None:
        self.app, self.lifespan, self.on_ready = app, lifespan, on_ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        await receive()
        async with self.lifespan():
            gc.collect()
            gc.freeze()  # as `shopfleet up` does: start-up objects are never garbage
            self.on_ready()
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})


def build(target: str, token_file: Path, access_log: bool) -> ASGIApp:
    data_dir = targets.make_temp_dir()
    if target == "bare":
        app = targets.bare_app()
        return WithLifespan(app, _nothing, lambda: token_file.write_text(""))
    if target == "gateway":
        gateway, token = targets.gateway_app(data_dir, access_log=access_log)
        platform_app = gateway.platform_app  # type: ignore[attr-defined]
        return WithLifespan(
            gateway,
            lambda: platform_app.router.lifespan_context(platform_app),
            lambda: token_file.write_text(token),
        )
    if target == "me":
        holder = targets.PlatformWithUser(data_dir, access_log=access_log)
        return WithLifespan(
            lambda s, r, se: holder.platform.gateway(s, r, se),
            holder.lifespan,
            lambda: token_file.write_text(holder.token),
        )
    raise SystemExit(f"unknown target {target!r}")


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target", choices=["bare", "gateway", "me"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--log-format", choices=["json", "console"], default="json")
    args = parser.parse_args()
    configure_logging("INFO", args.log_format)
    app = build(args.target, args.token_file, args.access_log)
    if args.target == "bare":  # the baseline: uvicorn as it comes
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            workers=1,
        )
        return
    # The platform's targets run on the server every entry point of ours uses (bounded
    # request heads, no forwarded headers believed): its cost is part of what is measured.
    config = server_config(
        app, PlatformSettings(), host="127.0.0.1", port=args.port, log_level="warning"
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
