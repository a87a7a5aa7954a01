"""Metrics on their own port (kit.telemetry.metrics_listener), as `up` and `serve` run it."""

from __future__ import annotations

import socket

import httpx

from shopfleet.kit.telemetry import metrics_listener
from tests.support.server import free_port


async def test_metrics_are_served_on_their_own_port() -> None:
    with metrics_listener("127.0.0.1", free_port()) as url:
        assert url is not None
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
    assert answer.status_code == 200
    assert "shopfleet_http_requests_total" in answer.text


def test_a_taken_port_or_port_zero_serves_nothing_and_fails_nothing() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with metrics_listener("127.0.0.1", taken.getsockname()[1]) as url:
            assert url is None
    with metrics_listener("127.0.0.1", 0) as url:
        assert url is None
