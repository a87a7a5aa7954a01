"""`shopfleet serve <service>` and `shopfleet migrate`: one service as its container runs
it, and its database's schema."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from shopfleet.cli.common import DataDir, console, fail, platform_settings


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
