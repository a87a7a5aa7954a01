"""`shopfleet`: run the platform and administer its data.

Every command reads the same `SHOPFLEET_*` settings as the services; `--data-dir` points
the embedded platform and the admin commands at one place.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
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
shops_app = typer.Typer(
    help="Create and list shops (tenants) in the embedded platform's data dir.",
    no_args_is_help=True,
)
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
        "--data-dir",
        "-d",
        envvar="SHOPFLEET_DATA_DIR",
        show_default=".shopfleet",
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


@app.command()
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
    import shutil
    import signal

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from shopfleet.dev import (
        DevOptions,
        MultiProcessPlatform,
        StartupFailed,
        drop_databases,
    )
    from shopfleet.serve import migrations_dir
    from shopfleet.services import SERVICES

    configure_logging("WARNING", "console")
    prefix = "shopfleet-dev."
    options = DevOptions(
        run_dir=run_dir,
        prefix=prefix,
        admin_dsn=admin_dsn,
        redis_url=redis,
        amqp_url=amqp,
        host=host,
        gateway_port=port,
        seed_demo=demo,
    )

    async def main() -> None:
        platform = MultiProcessPlatform(options)
        if reset:
            dbs = [f"{options.database_prefix}{n}" for n in SERVICES if migrations_dir(n)]
            await drop_databases(admin_dsn, dbs)
            await platform.purge_namespace()  # the queues the last run recorded, keys
            shutil.rmtree(run_dir, ignore_errors=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
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
            console.print("[yellow]interrupted; stopped.[/]")
            return
        stopping.cancel()
        try:
            starting.result()
        except StartupFailed as exc:
            raise fail(str(exc)) from None
        except Exception as exc:  # a database or broker that refused, the demo seeding
            raise fail(f"the platform did not start: {exc!r} (logs: {platform.log_dir})") from None
        _print_dev_welcome(platform)
        reported: set[str] = set()
        try:
            while not stop.is_set():
                for part in platform.parts.values():
                    for proc in (part.service, part.sidecar):
                        if proc.exit_code is not None and proc.label not in reported:
                            reported.add(proc.label)  # not restarted: the log says why
                            err.print(
                                f"[bold red]{proc.label} exited ({proc.exit_code})[/]; "
                                f"see {proc.log}"
                            )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            console.print("[dim]stopping: gateway, services, sidecars …[/]")
            await platform.stop()
            console.print("[green]stopped.[/]")

    asyncio.run(main())


def _print_dev_welcome(platform: object) -> None:
    from shopfleet.dev import MultiProcessPlatform

    assert isinstance(platform, MultiProcessPlatform)
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


def run_admin(coro_factory):
    """Run an admin coroutine, turning the domain's errors into readable messages."""
    from pydantic import ValidationError

    from shopfleet.kit.errors import Problem
    from shopfleet.kit.refusals import Refusal

    try:
        return asyncio.run(coro_factory())
    except (Problem, Refusal) as problem:
        raise fail(problem.detail) from None
    except ValidationError as invalid:
        lines = [
            f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
            for e in invalid.errors()
        ]
        raise fail("invalid input:\n  " + "\n  ".join(lines)) from None
    except ValueError as exc:
        raise fail(str(exc)) from None


def _password(value: str | None, what: str) -> str:
    if value:
        return value
    return typer.prompt(f"Password for {what}", hide_input=True, confirmation_prompt=True)


@shops_app.command("create")
def shops_create(
    slug: Annotated[
        str, typer.Argument(help="The shop's slug: lower-case letters, digits and dashes.")
    ],
    admin_email: Annotated[str, typer.Option(help="E-mail of the shop's first Admin.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Display name (default: the slug).")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of the shop's prices.")] = "EUR",
    admin_password: Annotated[
        str | None, typer.Option(help="Their password (asked for if omitted).")
    ] = None,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A host name that serves this shop (repeatable). Default: <slug>.localhost",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a shop (tenant) with its Admin, and route it. Running again changes nothing."""
    from shopfleet import admin
    from shopfleet.kit.contracts.tenants import TenantBootstrap

    settings = platform_settings(data_dir)
    password = _password(admin_password, admin_email)
    hosts = host or [f"{slug}.localhost"]

    async def create():
        request = TenantBootstrap(
            shop=slug,
            display_name=name or slug,
            currency=currency,
            admin_email=admin_email,
            admin_password=password,
        )
        return await admin.create_shop(settings, request, hosts)

    tenant = run_admin(create)
    verb = "created" if tenant.created else "already exists"
    console.print(
        f"[green]shop [bold]{slug}[/] {verb}[/] ({tenant.currency}); hosts: {', '.join(hosts)}"
    )
    console.print(f"API: /shops/{slug}/api/v1   admin user id: {tenant.admin_user_id}")


@shops_app.command("list")
def shops_list(data_dir: DataDir = None) -> None:
    """List the shops in the data dir with their hosts and state."""
    from shopfleet import admin

    rows = run_admin(lambda: admin.list_shops(platform_settings(data_dir)))
    table = Table("shop", "name", "currency", "hosts", "state")
    for tenant, slug, route in rows:
        state = "no route" if route is None else ("suspended" if route.suspended else "live")
        table.add_row(
            slug,
            tenant.display_name if tenant else "(no tenant)",
            tenant.currency if tenant else "",
            ", ".join(route.hosts) if route else "",
            state,
        )
    console.print(table)


@shops_app.command("purge")
def shops_purge(
    slug: Annotated[str, typer.Argument(help="The shop whose data to delete.")],
    platform_url: Annotated[
        str, typer.Option(envvar="SHOPFLEET_PLATFORM_URL", help="The gateway's URL.")
    ],
    platform_token: Annotated[
        str,
        typer.Option(envvar="SHOPFLEET_PLATFORM_TOKEN", help="The platform credential."),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a retained shop's data in every service (its Shop deleted with
    deletionPolicy Retain); refused while the shop has a route."""
    from shopfleet.purge import purge_shop

    if not yes:
        typer.confirm(f"Delete every row of shop '{slug}' in every service?", abort=True)
    deleted = run_admin(lambda: purge_shop(platform_url, platform_token, slug))
    table = Table("service", "rows deleted")
    for service, tables in deleted.items():
        table.add_row(service, str(sum(tables.values())))
    console.print(table)
    console.print(f"[green]shop [bold]{slug}[/]: its data is deleted[/]")


@users_app.command("add")
def users_add(
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    email: Annotated[str, typer.Option(help="The user's e-mail (unique within the shop).")],
    password: Annotated[
        str | None, typer.Option(help="Their password (asked for if omitted).")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Admin, User or PlatformAdmin (repeatable). Default: User"),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Display name (default: the part before @).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add a user to a shop with the given roles."""
    from shopfleet import admin

    settings = platform_settings(data_dir)
    secret = _password(password, email)
    roles = role or ["User"]
    user = run_admin(
        lambda: admin.add_user(settings, shop, email, secret, name or email.split("@")[0], roles)
    )
    console.print(
        f"[green]added[/] {user.email} to [bold]{shop}[/] as {', '.join(user.roles)} (id {user.id})"
    )


@users_app.command("unlock")
def users_unlock(
    shop: Annotated[str, typer.Option(help="The shop's slug.")],
    email: Annotated[
        str | None, typer.Option(help="The account to unlock (a user's e-mail).")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="A client address to unlock (after failed logins from it).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Lift the login delays of an account and/or a client address after failed logins.

    Works on the embedded platform's state (the data dir, or SHOPFLEET_STATE_STORE_URL),
    running or not. In a cluster a shop Admin calls
    POST /shops/<shop>/api/v1/users/<id>/unlock instead.
    """
    from shopfleet import admin

    if not email and not address:
        raise fail("say what to unlock: --email, --address or both")
    settings = platform_settings(data_dir)
    run_admin(lambda: admin.unlock_login(settings, shop, email, address))
    unlocked = " and ".join(x for x in (email, address) if x)
    console.print(f"[green]unlocked[/] {unlocked} in [bold]{shop}[/]: the next login is checked")


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Start signing with a new key; the old one stays in the JWKS until its tokens expire."""
    from shopfleet import admin

    kid = run_admin(lambda: admin.rotate_key(platform_settings(data_dir)))
    console.print(f"[green]new signing key[/] {kid}; running services pick it up within a minute")


class Served(StrEnum):
    """What `serve` and `migrate` accept: the gateway and every service of `SERVICES`, in its
    order (a unit test keeps the two equal). An Enum, so that a name that is not one is a
    usage error (exit code 2) listing them."""

    GATEWAY = "gateway"
    IDENTITY = "identity"
    CATEGORIES = "categories"
    CATALOG = "catalog"
    CART = "cart"
    ORDERS = "orders"
    SHIPPING = "shipping"
    PAYMENTS = "payments"
    NOTIFICATIONS = "notifications"


ServiceName = Annotated[
    Served,
    typer.Argument(help="The service to run: " + ", ".join(Served) + ".", show_default=False),
]


@app.command()
def serve(
    service: ServiceName,
    host: Annotated[
        str, typer.Option(envvar="SHOPFLEET_HOST", help="Address to listen on.")
    ] = "0.0.0.0",
    port: Annotated[
        int, typer.Option(envvar="SHOPFLEET_PORT", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate the service's database at start-up. With --no-migrate (a "
            "`shopfleet migrate` Job or initContainer does it) start-up checks the schema is "
            "current and refuses to start otherwise.",
        ),
    ] = True,
    graceful_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="On SIGTERM, how long in-flight requests may take to finish (seconds).",
        ),
    ] = 20.0,
    data_dir: DataDir = None,
) -> None:
    """Run ONE service as its container does: app-id = the service's name, building blocks
    from SHOPFLEET_BLOCKS (`dapr`: the sidecar at DAPR_GRPC_PORT/DAPR_HTTP_PORT; `local`:
    in-process, on the data dir), its own database (SHOPFLEET_<SERVICE>_DATABASE_URL).

    SIGTERM drains in-flight requests, then the outbox, then exits 0.
    """
    from shopfleet.serve import configure_process_logging, run

    settings = platform_settings(data_dir)
    if not migrate:
        settings = settings.model_copy(update={"migrate_on_start": False})
    configure_process_logging(settings)
    if not run(service.value, settings, host=host, port=port, graceful_timeout_s=graceful_timeout):
        raise fail(f"{service.value} did not start: see the error above.")


@app.command("migrate")
def migrate_command(
    services: Annotated[
        list[Served] | None,
        typer.Argument(
            help="Services whose database to migrate (default: every service).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Bring services' databases to the newest schema, then exit.

    For a migrate Job or an initContainer (with `serve --no-migrate`). Running it again
    changes nothing.
    """
    from shopfleet.serve import configure_process_logging, migrate
    from shopfleet.services import SERVICES

    settings = platform_settings(data_dir)
    configure_process_logging(settings)
    for name in [s.value for s in services] if services else list(SERVICES):
        try:
            done = asyncio.run(migrate(name, settings)) if name != "gateway" else None
        except Exception as exc:  # unreachable database, bad URL, failing migration
            raise fail(f"{name}: migration failed: {exc}") from None
        if done is None or done.url is None:
            console.print(f"{name}: keeps no relational data; nothing to migrate")
        else:
            console.print(
                f"[green]{name}[/]: schema at revision {done.revision or '(none)'} in {done.url}"
            )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
