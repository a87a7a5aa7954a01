"""Gateway benchmark: requests/s and p50/p99 of three targets, measured in one run.

    .venv/bin/python -m benchmarks.run [--duration 10] [--connections 64]

Each target runs in its own uvicorn process (one worker); `wrk` (Debian package `wrk`,
installed on first use) generates the load from one thread. Ratios are against the bare
FastAPI endpoint measured in the same run, so they carry over between machines better
than absolute numbers do.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
console = Console()

TARGETS = {
    "bare": ("/ping", "(a) bare FastAPI JSON endpoint"),
    "gateway": (
        "/shops/bench/api/v1/users/ping",
        "(b) gateway: token check + forward to a trivial route",
    ),
    "me": (
        "/shops/demo/api/v1/users/me",
        "(c) GET /users/me through the gateway (identity, SQLite)",
    ),
}


@dataclass
class Result:
    target: str
    label: str
    access_log: bool
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("[yellow]wrk not found; installing the Debian package (needs root)…")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("could not install wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return rps, p50, p99, errors


def measure(wrk: str, target: str, *, access_log: bool, duration: int, connections: int) -> Result:
    port = free_port()
    token_file = Path(tempfile.mkstemp(prefix="bench-token-")[1])
    token_file.unlink()
    command = [
        sys.executable,
        "-m",
        "benchmarks.serve",
        target,
        "--port",
        str(port),
        "--token-file",
        str(token_file),
    ]
    if access_log:
        command.append("--access-log")
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not token_file.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the {target} server did not start")
            time.sleep(0.1)
        time.sleep(0.3)
        token = token_file.read_text()
        path, label = TARGETS[target]
        url = f"http://127.0.0.1:{port}{path}"
        headers = ["-H", f"Authorization: Bearer {token}"] if token else []
        subprocess.run(
            [wrk, "-t1", "-c16", "-d2s", *headers, url], check=True, capture_output=True
        )  # warm-up
        run = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", *headers, url],
            check=True,
            capture_output=True,
            text=True,
        )
        rps, p50, p99, errors = parse_wrk(run.stdout)
        return Result(target, label, access_log, rps, p50, p99, errors)
    finally:
        server.terminate()
        server.wait(timeout=30)
        token_file.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    args = parser.parse_args()
    wrk = ensure_wrk()
    results: list[Result] = []
    for target in args.targets:
        for access_log in [False] if target == "bare" else [True, False]:
            with console.status(
                f"measuring {target} (access log {'on' if access_log else 'off'})…"
            ):
                results.append(
                    measure(
                        wrk,
                        target,
                        access_log=access_log,
                        duration=args.duration,
                        connections=args.connections,
                    )
                )
    baseline = next((r.requests_per_s for r in results if r.target == "bare"), None)
    table = Table(
        title=f"gateway benchmark: {args.connections} connections, "
        f"{args.duration} s per target, 1 uvicorn worker"
    )
    for column in ("target", "access log", "req/s", "× bare", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right" if column not in ("target",) else "left")
    for r in results:
        ratio = f"{r.requests_per_s / baseline:.2f}×" if baseline else "-"
        table.add_row(
            r.label,
            "on" if r.access_log else "off",
            f"{r.requests_per_s:,.0f}",
            ratio,
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
        )
    console.print(table)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"gateway-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
