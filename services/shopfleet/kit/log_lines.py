"""The access log's line, rendered directly in the shape structlog's renderers give it.

One line per request went through structlog's processor chain and renderer: ≈ 60 µs a
line with the console renderer, more than a whole read on the fast path costs. These
functions write the same line (same keys, same order, same quoting) for what the access
log needs, an info-level "request" event with the bound context; everything else still
goes through structlog. `tests/unit/kit/test_log_lines.py` holds them to structlog's own
output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import orjson

# structlog's ConsoleRenderer: a level padded to the longest level name ("exception"), the
# event padded to 30 characters, the other keys sorted; a string value as it is unless it
# holds one of these characters (then its repr), any other value its repr.
_CONSOLE_EVENT = "[info     ] request                       "
_QUOTED = frozenset(" \t=\r\n\"'")

# (the event's fields, the bound context, the timestamp) -> the line
LineRenderer = Callable[[Mapping[str, object], Mapping[str, object], str], str]


def iso_now() -> str:
    """The timestamp as `TimeStamper(fmt="iso", utc=True)` writes it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def json_line(fields: Mapping[str, object], context: Mapping[str, object], stamp: str) -> str:
    """The line `JSONRenderer` writes for `log.info("request", **fields)` under `context`."""
    line = {**fields, "event": "request", **context, "level": "info", "timestamp": stamp}
    return orjson.dumps(line).decode()


def _console_value(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if not _QUOTED.isdisjoint(value) else value
    return repr(value)


def console_line(fields: Mapping[str, object], context: Mapping[str, object], stamp: str) -> str:
    """The line `ConsoleRenderer(colors=False)` writes for `log.info("request", **fields)`
    under `context`."""
    merged = {**context, **fields}  # merge_contextvars: the event's own keys win
    pairs = " ".join(f"{key}={_console_value(merged[key])}" for key in sorted(merged))
    return f"{stamp} {_CONSOLE_EVENT} {pairs}".rstrip(" ")
