"""The image's HEALTHCHECK command, run as Docker would run it (`/bin/sh -c`), against a real
`shopfleet serve` process: healthy while it serves, unhealthy once it has stopped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.serve.processes import Served
from tests.unit.docker.dockerfile import parse


def healthcheck(port: int) -> int:
    _, words = parse().final.last("HEALTHCHECK").flags_and_words()
    assert words[0] == "CMD"
    command = parse().final.last("HEALTHCHECK").args.split("CMD", 1)[1].strip()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "SHOPFLEET_PORT": str(port),
    }
    return subprocess.run(["/bin/sh", "-c", command], env=env, timeout=30, check=False).returncode


async def test_the_image_healthcheck_passes_while_serving_and_fails_after(
    serve: Callable[..., Served], catalog_env: dict[str, str]
) -> None:
    served = serve("catalog", catalog_env)
    await served.wait_ready()
    assert await asyncio.to_thread(healthcheck, served.port) == 0
    served.terminate()
    assert await served.wait_exit() == 0, served.output()
    assert await asyncio.to_thread(healthcheck, served.port) != 0
