"""The README's first command, for real: `./shopfleet up` in a process on a socket.

Starts the wrapper script a newcomer runs, waits until it is ready, runs the README's
tour with curl exactly as written (only the port differs), stops it with Ctrl-C, starts
it again on the same data dir and finds everything still there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]


class Running:
    def __init__(self, data_dir: Path, port: int) -> None:
        env = {**os.environ, "SHOPFLEET_LOG_FORMAT": "json", "COLUMNS": "200"}
        env.pop("SHOPFLEET_PLATFORM_TOKEN", None)
        self.process = subprocess.Popen(
            [str(ROOT / "shopfleet"), "up", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.base = f"http://127.0.0.1:{port}"
        self.output = ""

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"shopfleet up exited early:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"shopfleet up was not ready in {timeout_s} s:\n{self.output}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out
        return self.process.returncode


def readme_tour() -> str:
    """The tour's first three shell blocks: identity, browsing and the cart, checkout."""
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("## A short tour", 1)[1]
    return "\n".join(re.findall(r"```bash\n(.*?)```", tour, re.S)[:3])


def test_up_serves_the_readme_tour_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    first = Running(data, port)
    first.wait_ready()
    script = readme_tour().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    script = script.replace("curl -s ", "curl -s --fail-with-body ")
    tour = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert tour.returncode == 0, tour.stdout + tour.stderr
    assert '"email":"ada@example.com"' in tour.stdout.replace(" ", "")
    assert '"quantity":2' in tour.stdout.replace(" ", "")  # the cart, priced by the catalog
    assert '"status":"paid"' in tour.stdout.replace(" ", "")  # the webhook came: order paid
    assert first.stop() == 0, first.output

    banner = first.output
    assert f"http://127.0.0.1:{port}/docs" in banner
    creds = re.search(r"Demo shopper\s+(\S+) / (\S+)", banner)
    assert creds, banner

    second = Running(data, port)
    second.wait_ready()
    try:
        api = f"{second.base}/shops/demo/api/v1"
        login = httpx.post(
            f"{api}/auth/login",
            json={"email": "ada@example.com", "password": "correct horse battery"},
        )
        assert login.status_code == 200, login.text
        shopper = httpx.post(
            f"{api}/auth/login", json={"email": creds.group(1), "password": creds.group(2)}
        )
        assert shopper.status_code == 200, shopper.text
    finally:
        assert second.stop() == 0, second.output
