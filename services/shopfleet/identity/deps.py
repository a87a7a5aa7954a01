"""What identity's routes depend on besides a session: the use cases' shared parts
(`Identity`: settings, keys, hasher, throttle, clock), built once by `create_app`, and the
client's address that login throttling counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopfleet.identity.service import Identity


async def _identity(request: Request) -> Identity:  # async: a def would run in a thread
    identity: Identity = request.app.state.identity
    return identity


async def _client_address(request: Request) -> str:
    # The gateway puts the client first in X-Forwarded-For; a direct caller has its socket.
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    if forwarded:
        return forwarded[:64]
    return request.client.host if request.client else "unknown"


IdentityDep = Annotated[Identity, Depends(_identity)]
ClientAddress = Annotated[str, Depends(_client_address)]
