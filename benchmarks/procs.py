"""The processes the load benchmarks start, and their CPU time read from /proc.

- `shopfleet_up`: the embedded platform as `shopfleet up` starts it, in its own process
  (the Stripe emulator is its child), with the gateway's rate limits out of the way;
- `bare_server`: the bare FastAPI endpoint every ratio is taken against
  (`benchmarks.serve bare`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.run import free_port

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")

# The benchmarks measure the platform's work, not the 429 path.
RATE_LIMITS_OFF = {
    "SHOPFLEET_GATEWAY_CLIENT_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_CLIENT_BURST": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_BURST": "1000000",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_ready(
    session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode} (see its log)")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as answer:
                if answer.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} was not ready in {timeout_s} s")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    session: aiohttp.ClientSession  # based at the server's URL
    data_dir: Path


@contextlib.asynccontextmanager
async def shopfleet_up(
    tmp: Path, env: dict[str, str], connections: int, module: tuple[str, ...] = ("shopfleet.cli",)
) -> AsyncIterator[Server]:
    """`shopfleet up` on a free port with its defaults, but for `env` (rate limits always
    out of the way), once it answers /readyz. Its output goes to tmp/platform.log. `module`
    is what `python -m` runs (with its arguments) in place of the shopfleet command."""
    port, data_dir = free_port(), tmp / "platform"
    cmd = [sys.executable, "-m", *module, "up", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir)]
    with process(cmd, {**RATE_LIMITS_OFF, **env}, tmp / "platform.log") as proc:
        connector = aiohttp.TCPConnector(limit=connections)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base, connector=connector) as session:
            await wait_ready(session, f"{base}/readyz", proc)
            yield Server(proc, session, data_dir)


@contextlib.asynccontextmanager
async def bare_server(tmp: Path, connections: int) -> AsyncIterator[Server]:
    """The bare FastAPI endpoint (`GET /ping`) in its own uvicorn process."""
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.serve", "bare", "--port", str(port)]
    cmd += ["--token-file", str(tmp / "bare-token")]
    with process(cmd, {}, tmp / "bare.log") as proc:
        connector = aiohttp.TCPConnector(limit=connections)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base, connector=connector) as session:
            await wait_ready(session, f"{base}/ping", proc)
            yield Server(proc, session, tmp)


@contextlib.asynccontextmanager
async def temp_dir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="shopfleet-bench-") as tmp:
        yield Path(tmp)


def copy_logs(tmp: Path, to: Path) -> None:
    """The servers' logs of a run, kept as `to`/bench-<name>.log (the run's dir goes away)."""
    for log in tmp.glob("*.log"):
        (to / f"bench-{log.name}").write_bytes(log.read_bytes())
