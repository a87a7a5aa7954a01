"""The access log's direct lines are the lines structlog's renderers write."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import structlog

from shopfleet.kit.log_lines import console_line, iso_now, json_line

STAMP = "2026-12-07T21:05:37.127377Z"
FIELDS = {"method": "GET", "path": "/shops/demo/api/v1/products", "status": 200, "ms": 4.63}
CONTEXTS = [
    {},
    {"request_id": "76b3c1f0c43bf414", "trace_id": "ae07" * 8, "shop": "demo"},
    {"request_id": "a b", "trace_id": "x=y", "shop": None},  # quoted, and a None
    {"request_id": "it's", "shop": 'say "hi"', "zone": 3, "attempt": 1.5},
]


def structlog_line(
    renderer: Callable[[Any, str, dict[str, Any]], Any], context: dict[str, object]
) -> str:
    """What the configured processor chain renders for `log.info("request", **FIELDS)`."""
    event = {**FIELDS, "event": "request"}
    for key, value in context.items():  # merge_contextvars
        event.setdefault(key, value)
    event.update(level="info", timestamp=STAMP)  # add_log_level, TimeStamper
    return str(renderer(None, "info", event))


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_console_line_is_the_console_renderers(context: dict[str, object]) -> None:
    renderer = structlog.dev.ConsoleRenderer(colors=False)
    assert console_line(FIELDS, context, STAMP) == structlog_line(renderer, context)


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_json_line_is_the_json_renderers(context: dict[str, object]) -> None:
    renderer = structlog.processors.JSONRenderer(serializer=lambda o, **_: orjson.dumps(o).decode())
    assert orjson.loads(json_line(FIELDS, context, STAMP)) == orjson.loads(
        structlog_line(renderer, context)
    )


def test_the_timestamp_is_the_time_stampers() -> None:
    stamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    before = stamper(None, "info", {})["timestamp"]
    ours = iso_now()
    after = stamper(None, "info", {})["timestamp"]
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"
    assert re.fullmatch(shape, ours) and re.fullmatch(shape, before)
    assert before[:19] <= ours[:19] <= after[:19]  # ISO times sort as strings
