"""A clock for tests: real time plus an offset a test moves forward."""

from __future__ import annotations

import time


class FakeClock:
    """Real time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
