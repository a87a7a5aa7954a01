"""`shopfleet users`: add users to a shop, lift login delays."""

from __future__ import annotations

from typing import Annotated

import typer

from shopfleet.cli.common import DataDir, ask_password, console, fail, platform_settings, run_admin

users_app = typer.Typer(help="Manage users of a shop.", no_args_is_help=True)


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
    secret = ask_password(password, email)
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
