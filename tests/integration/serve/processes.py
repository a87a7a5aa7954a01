"""`shopfleet serve` / `shopfleet migrate` as real subprocesses, the way a container runs them.

`Served` starts the installed `shopfleet` console script (the Dockerfile's ENTRYPOINT) on a
free port with an environment built per test (blocks, data dir, database URL, JSON logs),
waits for `/readyz`, and keeps the process's output in a file for the failure message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.server import free_port

SHOPFLEET = str(Path(sys.executable).with_name("shopfleet"))
STARTUP_WAIT_S = 90.0  # a generous bound on a shared 2-core machine; not a measurement


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any SHOPFLEET_*/DAPR_* setting, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPFLEET_", "DAPR_"))}
    env.update(overrides)
    return env


def shopfleet(*args: str, env: Mapping[str, str], timeout_s: float = 120.0) -> tuple[int, str]:
    """Run `shopfleet <args>` to completion: (exit code, stdout + stderr)."""
    done = subprocess.run(
        [SHOPFLEET, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


class Served:
    """One `shopfleet serve <service>` process."""

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        log_path: Path,
        *args: str,
        port: int | None = None,
    ) -> None:
        self.service = service
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [SHOPFLEET, "serve", service, "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict]:
        return [orjson.loads(line) for line in self.output().splitlines() if line.strip()]

    async def wait_ready(self, path: str = "/readyz") -> None:
        deadline = asyncio.get_running_loop().time() + STARTUP_WAIT_S
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(
                        f"`shopfleet serve {self.service}` exited with {self.proc.returncode} "
                        f"before it was ready:\n{self.output()}"
                    )
                try:
                    if (await client.get(path)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    pytest.fail(f"{self.service} not ready in {STARTUP_WAIT_S}s:\n{self.output()}")
                await asyncio.sleep(0.1)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def wait_exit(self, timeout_s: float = 60.0) -> int:
        code = await asyncio.to_thread(self.proc.wait, timeout_s)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
