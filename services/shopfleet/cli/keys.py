"""`shopfleet keys`: the token-signing keys."""

from __future__ import annotations

import typer

from shopfleet.cli.common import DataDir, console, platform_settings, run_admin

keys_app = typer.Typer(help="Manage token-signing keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Start signing with a new key; the old one stays in the JWKS until its tokens expire."""
    from shopfleet import admin

    kid = run_admin(lambda: admin.rotate_key(platform_settings(data_dir)))
    console.print(f"[green]new signing key[/] {kid}; running services pick it up within a minute")
