"""`shopfleet`: run the platform and administer its data.

Every command reads the same `SHOPFLEET_*` settings as the services; `--data-dir` points
the embedded platform and the admin commands at one place.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from shopfleet.kit.settings import PlatformSettings
from shopfleet.kit.telemetry import configure_logging

app = typer.Typer(
    name="shopfleet",
    help="shopfleet: a multi-tenant e-commerce platform. Start with `shopfleet up`.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
shops_app = typer.Typer(help="Create and list shops (tenants) in the embedded platform's data dir.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users of a shop.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage token-signing keys.", no_args_is_help=True)
app.add_typer(shops_app, name="shops")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", "-d", envvar="SHOPFLEET_DATA_DIR", show_default=".shopfleet",
        help="Where the embedded platform keeps its databases, keys and route table.",
    ),
]


def platform_settings(data_dir: Path | None) -> PlatformSettings:
    settings = PlatformSettings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    data_dir: DataDir = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Seed the demo shop `demo`.")] = True,
) -> None:
    """Start the whole platform in one process: gateway + every service, SQLite, local blocks.

    Data lives in the data dir and survives restarts. Stop with Ctrl-C.
    """
    import uvicorn

    from shopfleet.platform import EmbeddedPlatform

    settings = platform_settings(data_dir)
    configure_logging(settings.log_level, settings.log_format)
    platform = EmbeddedPlatform(settings, seed_demo=demo, freeze_gc=True)
    server = uvicorn.Server(
        uvicorn.Config(
            platform, host=host, port=port, loop="uvloop", http="httptools", lifespan="on",
            access_log=False, log_config=None, timeout_graceful_shutdown=15,
        )
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            _print_welcome(platform, host, port)
        await task

    console.print(f"[dim]Starting shopfleet with data in {settings.data_dir.resolve()} …[/]")
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise fail(f"the platform did not start; is port {port} free? Try --port {port + 1}.")


def _print_welcome(platform: object, host: str, port: int) -> None:
    from shopfleet.platform import EmbeddedPlatform

    assert isinstance(platform, EmbeddedPlatform)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    table = Table.grid(padding=(0, 2))
    table.add_row("Shop API", f"{base}/shops/demo/api/v1  (or http://demo.localhost:{port}/api/v1)")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/readyz   metrics: {base}/metrics")
    if platform.demo:
        table.add_row("Demo admin", f"{platform.demo.admin_email} / {platform.demo.admin_password}")
        table.add_row("Demo shopper", f"{platform.demo.shopper_email} / {platform.demo.shopper_password}")
    table.add_row("Data dir", str(platform.platform.data_dir.resolve()))
    console.print(Panel(table, title="[bold green]shopfleet is up", subtitle="Ctrl-C stops it", expand=False))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
