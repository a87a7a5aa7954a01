"""Test programs in a process of their own: the kill -9 tests start one, read what it
prints, and kill it where they mean to."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def spawn_module(module: str, *args: str) -> asyncio.subprocess.Process:
    """`python -m module args…` from the repository's root, with the project and the tests
    importable and its standard output piped to the caller."""
    path = [str(ROOT), str(ROOT / "services"), os.environ.get("PYTHONPATH", "")]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
    )
    assert process.stdout is not None
    return process
