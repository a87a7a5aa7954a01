"""`shopfleet up`: the whole platform in one process (the embedded platform)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from shopfleet.cli.common import DataDir, console, fail, platform_settings
from shopfleet.kit.telemetry import configure_logging


def up(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    data_dir: DataDir = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Seed the demo shop `demo`.")
    ] = True,
) -> None:
    """Start the whole platform in one process: gateway + every service, SQLite, local blocks.

    Data lives in the data dir and survives restarts. Stop with Ctrl-C.
    """
    import uvicorn

    from shopfleet.kit.server import server_config
    from shopfleet.kit.telemetry import metrics_listener
    from shopfleet.platform import EmbeddedPlatform

    settings = platform_settings(data_dir)
    if settings.public_url is None:  # where webhooks (the Stripe emulator's) reach us
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    configure_logging(settings.log_level, settings.log_format)
    platform = EmbeddedPlatform(settings, seed_demo=demo, freeze_gc=True)
    server = uvicorn.Server(
        server_config(platform, settings, host=host, port=port, timeout_graceful_shutdown=15)
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        # uvicorn offers no start-up event to wait on
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            _print_welcome(platform, host, port)
        with contextlib.suppress(SystemExit):  # uvicorn's "start-up failed"; reported below
            await task

    console.print(f"[dim]Starting shopfleet with data in {settings.data_dir.resolve()} …[/]")
    with metrics_listener(settings.metrics_host, settings.metrics_port) as metrics_url:
        platform.metrics_url = metrics_url
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
    if not server.started:
        raise fail(
            f"the platform did not start: see the error above (if port {port} is taken, "
            f"try --port {port + 1})."
        )


def _print_welcome(platform: object, host: str, port: int) -> None:
    from shopfleet.platform import EmbeddedPlatform

    assert isinstance(platform, EmbeddedPlatform)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    table = Table.grid(padding=(0, 2))
    table.add_row("Shop API", f"{base}/shops/demo/api/v1  (or http://demo.localhost:{port}/api/v1)")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/readyz   metrics: {platform.metrics_url or 'off'}")
    if platform.demo:
        table.add_row("Demo admin", f"{platform.demo.admin_email} / {platform.demo.admin_password}")
        table.add_row(
            "Demo shopper", f"{platform.demo.shopper_email} / {platform.demo.shopper_password}"
        )
    table.add_row("Data dir", str(platform.platform.data_dir.resolve()))
    console.print(
        Panel(table, title="[bold green]shopfleet is up", subtitle="Ctrl-C stops it", expand=False)
    )
