"""`shopfleet shops`: create, list and purge shops (tenants)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shopfleet.cli.common import DataDir, ask_password, console, platform_settings, run_admin

shops_app = typer.Typer(
    help="Create and list shops (tenants) in the embedded platform's data dir.",
    no_args_is_help=True,
)


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
    password = ask_password(admin_password, admin_email)
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
