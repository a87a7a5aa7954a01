"""Distinct client addresses for login attacks: each test speaks from its own loopback address.

Every 127.x.y.z reaches the platform's 127.0.0.1 listener, and the gateway sees the socket's
address, so a test that trips the per-address login limit trips it for itself only.
"""

from __future__ import annotations

import itertools

import httpx

from tests.security.conftest import Target

_hosts = itertools.count(1)


def fresh_address() -> str:
    """A loopback address no other test of this session speaks from."""
    n = next(_hosts)
    return f"127.77.{n // 250}.{n % 250 + 1}"


def client_from(target: Target, address: str, **options: object) -> httpx.AsyncClient:
    """A client of `target` whose connections leave from `address`."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address, limits=httpx.Limits(max_connections=200)
    )
    return target.client(transport=transport, **options)
