"""What every command shares: the consoles, the `--data-dir` option, the settings it
selects, and the way a command fails (a red line on stderr, exit code 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shopfleet.kit.settings import PlatformSettings

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


def ask_password(value: str | None, what: str) -> str:
    """`value`, or asked for twice without echo when the option was left out."""
    if value:
        return value
    return typer.prompt(f"Password for {what}", hide_input=True, confirmation_prompt=True)
