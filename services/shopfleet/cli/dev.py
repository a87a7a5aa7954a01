"""`shopfleet dev`: every service as its own process next to its own sidecar double, plus
the gateway (the launcher around `shopfleet.dev`)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from shopfleet.cli.common import console, err, fail
from shopfleet.kit.telemetry import configure_logging

if TYPE_CHECKING:  # imported when the command runs: `shopfleet serve` starts without them
    from shopfleet.dev.multiprocess import MultiProcessPlatform
    from shopfleet.dev.plan import DevOptions


def dev(
    port: Annotated[int, typer.Option(help="The gateway's port.", min=1, max=65535)] = 8000,
    host: Annotated[
        str, typer.Option(help="The gateway's address (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    run_dir: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="Logs (one per process), data dirs, the route table, token and credentials.",
        ),
    ] = Path(".shopfleet-dev"),
    admin_dsn: Annotated[
        str,
        typer.Option(
            envvar="SHOPFLEET_DEV_ADMIN_DSN",
            help="PostgreSQL to create the databases shopfleet_dev_<service> on (kept).",
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    redis: Annotated[
        str, typer.Option(envvar="SHOPFLEET_DEV_REDIS", help="Redis of the sidecars (state).")
    ] = "redis://127.0.0.1:6379/0",
    amqp: Annotated[
        str, typer.Option(envvar="SHOPFLEET_DEV_AMQP", help="RabbitMQ of the sidecars (pub/sub).")
    ] = "amqp://guest:guest@127.0.0.1:5672/",
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Seed the demo shop `demo`.")
    ] = True,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Start from nothing: drop the dev databases, the queues and Redis keys of "
            "the sidecars, and the run dir first.",
        ),
    ] = False,
) -> None:
    """Start every service as its own process next to its own sidecar, plus the gateway:
    the cluster's shape without a cluster (PostgreSQL, Redis and RabbitMQ must run here).

    Each service runs `shopfleet serve <service>` with the Dapr adapter against a sidecar
    DOUBLE, `python -m shopfleet.devtools.sidecar_double`: a development tool, not Dapr.
    Data is kept between runs (databases shopfleet_dev_<service>, durable queues). Ctrl-C
    stops everything.
    """
    from shopfleet.dev.plan import DevOptions

    configure_logging("WARNING", "console")
    options = DevOptions(
        run_dir=run_dir,
        prefix="shopfleet-dev.",
        admin_dsn=admin_dsn,
        redis_url=redis,
        amqp_url=amqp,
        host=host,
        gateway_port=port,
        seed_demo=demo,
    )
    asyncio.run(_run(options, reset=reset))


async def _run(options: DevOptions, *, reset: bool) -> None:
    """Start, show where everything is, watch until Ctrl-C (or SIGTERM), stop."""
    import signal

    from shopfleet.dev.multiprocess import MultiProcessPlatform

    platform = MultiProcessPlatform(options)
    if reset:
        await _reset(platform)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not await _start(platform, stop):
        console.print("[yellow]interrupted; stopped.[/]")
        return
    _print_dev_welcome(platform)
    try:
        await _watch(platform, stop)
    finally:
        console.print("[dim]stopping: gateway, services, sidecars …[/]")
        await platform.stop()
        console.print("[green]stopped.[/]")


async def _reset(platform: MultiProcessPlatform) -> None:
    """Drop the dev databases, the queues the last run recorded, the keys and the run dir."""
    import shutil

    from shopfleet.dev.databases import drop_databases
    from shopfleet.serve import migrations_dir
    from shopfleet.services import SERVICES

    options = platform.options
    dbs = [f"{options.database_prefix}{n}" for n in SERVICES if migrations_dir(n)]
    await drop_databases(options.admin_dsn, dbs)
    await platform.purge_namespace()
    shutil.rmtree(options.run_dir, ignore_errors=True)


async def _start(platform: MultiProcessPlatform, stop: asyncio.Event) -> bool:
    """Start with a progress line; False when `stop` came first (everything stopped)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from shopfleet.dev.processes import StartupFailed

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting shopfleet (multi-process) …", total=None)

        def say(message: str) -> None:
            progress.update(task, description=f"starting shopfleet: {message} …")

        starting = asyncio.create_task(platform.start(say))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        return False
    stopping.cancel()
    try:
        starting.result()
    except StartupFailed as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # a database or broker that refused, the demo seeding
        raise fail(f"the platform did not start: {exc!r} (logs: {platform.log_dir})") from None
    return True


async def _watch(platform: MultiProcessPlatform, stop: asyncio.Event) -> None:
    """Until `stop`: say once of each process that exits (nothing restarts it)."""
    reported: set[str] = set()
    while not stop.is_set():
        for part in platform.parts.values():
            for proc in (part.service, part.sidecar):
                if proc.exit_code is not None and proc.label not in reported:
                    reported.add(proc.label)  # not restarted: the log says why
                    err.print(
                        f"[bold red]{proc.label} exited ({proc.exit_code})[/]; see {proc.log}"
                    )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _print_dev_welcome(platform: MultiProcessPlatform) -> None:
    base = platform.url
    port = base.rsplit(":", 1)[1]
    table = Table.grid(padding=(0, 2))
    table.add_row("Shop API", f"{base}/shops/demo/api/v1  (or http://demo.localhost:{port}/api/v1)")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/readyz   metrics: each part's metrics port (below)")
    if platform.demo:
        table.add_row("Demo admin", f"{platform.demo.admin_email} / {platform.demo.admin_password}")
        table.add_row(
            "Demo shopper", f"{platform.demo.shopper_email} / {platform.demo.shopper_password}"
        )
    table.add_row("Platform token", f"{platform.run_dir / 'platform-token'}")
    for name, part in platform.parts.items():
        database = part.database_url.rsplit("/", 1)[-1] if part.database_url else "-"
        table.add_row(
            f"  {name}",
            f"port {part.app_port}  metrics {part.metrics_port}  "
            f"sidecar {part.http_port}/{part.grpc_port}  db {database}",
        )
    table.add_row("Logs", str(platform.log_dir))
    table.add_row("Broker/Redis", f"prefix {platform.options.prefix}")
    console.print(
        Panel(
            table,
            title="[bold green]shopfleet is up: every service in its own process",
            subtitle="Ctrl-C stops it",
            expand=False,
        )
    )
