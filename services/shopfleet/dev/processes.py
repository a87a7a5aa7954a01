"""One child process of the multi-process platform: started in a session of its own,
logging to a file, stopped with SIGTERM then SIGKILL; and waiting for it to be ready."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


class StartupFailed(RuntimeError):
    """A part exited or did not become ready; the message carries the end of its log."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nothing listens on right now (held together while chosen)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the launcher dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Proc:
    """One child process in a session of its own, logging (appending) to a file."""

    def __init__(
        self, label: str, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
    ) -> None:
        self.label, self.argv, self.env, self.log, self.cwd = label, list(argv), dict(env), log, cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n----- {time.strftime('%H:%M:%S')} start {self.label}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)  # its session's group: it and its children

    async def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if still running after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.popen is not None and self.popen.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.exit_code

    async def stop(self, grace_s: float) -> int | None:
        """SIGTERM, then SIGKILL (with its children) after `grace_s`."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            if await self.wait(grace_s) is None:
                self._signal_group(signal.SIGKILL)
        await self.wait(10)
        self._signal_group(signal.SIGKILL)  # leftovers of its group (an orphaned emulator)
        return self.exit_code

    async def kill(self) -> int | None:
        """SIGKILL to the process and its children at once (no shutdown of any kind)."""
        self._signal_group(signal.SIGKILL)
        return await self.wait(10)


async def wait_http(proc: Proc, url: str, status: int, timeout_s: float) -> None:
    """Until `url` answers `status`; `StartupFailed` (with the end of its log) when `proc`
    exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            if not proc.running:
                raise StartupFailed(
                    f"{proc.label} exited with {proc.exit_code} before it was ready "
                    f"(log: {proc.log}):\n{proc.tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == status:
                    return
            if time.monotonic() > deadline:
                raise StartupFailed(
                    f"{proc.label} not ready at {url} (log: {proc.log}):\n{proc.tail()}"
                )
            await asyncio.sleep(0.1)
