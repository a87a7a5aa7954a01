"""Component metadata values read as the Go components read them: booleans, integers and
durations (`10s`, `1m30s`, `500ms`), each with a default for an empty or missing value."""

from __future__ import annotations

import re


def flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "t", "true", "yes", "y", "on"}


def integer(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def seconds(value: str | None, default: float) -> float:
    """A Go duration (`10s`, `1m30s`, `500ms`) or a number of seconds."""
    if value in (None, ""):
        return default
    assert value is not None
    try:
        return float(value)
    except ValueError:
        pass
    total = 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if not parts:
        return default
    for number, unit in parts:
        total += float(number) * units[unit]
    return total
