"""The local Stripe emulator as a child process (so its CPU is measured apart).

`StripeEmulator.start()` opens a listening socket on a free loopback port, hands it to
`python -m shopfleet.payments.emulator_main`, and waits until it answers; its output goes
to a log file. Nothing of it is kept on disk: a restart starts from an empty Stripe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import structlog

log = structlog.get_logger("shopfleet.payments.emulator")

WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded"]


class EmulatorUnavailable(RuntimeError):
    pass


class StripeEmulator:
    def __init__(
        self, *, log_path: Path, webhook_delay_s: float = 0.05, start_timeout_s: float = 20.0
    ) -> None:
        self.log_path = log_path
        self.webhook_delay_s = webhook_delay_s
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def ensure_started(self, session: aiohttp.ClientSession) -> str:
        """The emulator's base URL, starting it on the first call."""
        if self.url is not None and self.process is not None and self.process.poll() is None:
            return self.url
        async with self._lock:
            if self.url is None or self.process is None or self.process.poll() is not None:
                await self._start(session)
        assert self.url is not None
        return self.url

    async def _start(self, session: aiohttp.ClientSession) -> None:
        await self.stop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "shopfleet.payments.emulator_main",
            "--fd",
            str(sock.fileno()),
            "--webhook-delay",
            str(self.webhook_delay_s),
            "--parent-pid",
            str(os.getpid()),
        ]
        self.process = await asyncio.to_thread(_spawn, command, self.log_path, sock.fileno())
        sock.close()  # the child holds its copy
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise EmulatorUnavailable(f"the emulator exited with {code}; see {self.log_path}")
            try:
                async with session.get(
                    f"{url}/v1/balance", headers={"Authorization": "Bearer sk_test_ping"}
                ) as answer:
                    if answer.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                await self.stop()
                raise EmulatorUnavailable(f"the Stripe emulator did not start; see {self.log_path}")
            await asyncio.sleep(0.05)
        self.url = url
        log.info("stripe emulator started", url=url, pid=self.process.pid, log=str(self.log_path))

    async def stop(self) -> None:
        process, self.process, self.url = self.process, None, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 5)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, 5)


def _spawn(command: list[str], log_path: Path, fd: int) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(fd,),
            start_new_session=True,
        )


async def register_webhook(
    session: aiohttp.ClientSession, emulator_url: str, shop: str, url: str, secret: str
) -> None:
    """Point the emulator's webhook for `shop` at `url`, signed with `secret`."""
    body = {"url": url, "secret": secret, "events": WEBHOOK_EVENTS}
    async with session.post(f"{emulator_url}/_config/webhooks/{shop}", json=body) as answer:
        if answer.status != 200:
            raise EmulatorUnavailable(f"the emulator refused the webhook ({answer.status})")
