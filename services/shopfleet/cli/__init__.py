"""`shopfleet`: run the platform and administer its data.

Every command reads the same `SHOPFLEET_*` settings as the services; `--data-dir` points
the embedded platform and the admin commands at one place. One module per command or
command group: up, dev, serve (and migrate), shops, users, keys; common.py holds what they
share. `app` is the console script's entry point (pyproject's `[project.scripts]`).
"""

from __future__ import annotations

import typer

from shopfleet.cli.dev import dev
from shopfleet.cli.keys import keys_app
from shopfleet.cli.serve import migrate_command, serve
from shopfleet.cli.shops import shops_app
from shopfleet.cli.up import up
from shopfleet.cli.users import users_app

app = typer.Typer(
    name="shopfleet",
    help="shopfleet: a multi-tenant e-commerce platform. Start with `shopfleet up`.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(shops_app, name="shops")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.command()(up)
app.command()(dev)
app.command()(serve)
app.command("migrate")(migrate_command)
