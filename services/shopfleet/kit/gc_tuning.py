"""Garbage-collector settings for a long-running server process."""

from __future__ import annotations

import gc


def settle_after_start(gen0_threshold: int) -> None:
    """Call once start-up is done. Start-up objects live forever, so they are frozen out of
    every later collection; young collections run every `gen0_threshold` allocations
    instead of every 700 (at 20,000: 3-9 % less CPU per checkout in our runs, the low
    end within their noise; benchmarks/README.md)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
