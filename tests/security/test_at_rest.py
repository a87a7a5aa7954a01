"""Issue 12, hole 5: secrets readable at rest.

Seen before the fix: in `shopfleet up`'s data dir, `identity.db` (holding the RS256
private key in PEM) and `state.db` (the Stripe emulator's webhook secret) were 0644 in a
0755 directory: a local user read the key, signed a PlatformAdmin token and listed users.
"""

from __future__ import annotations

import sqlite3
import stat
import time
import uuid
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.platform import EmbeddedPlatform
from tests.security.conftest import API, Target, only


async def _stored_signing_keys(target: Target) -> list[tuple[str, str]]:
    """(kid, private_pem) of every signing key, read as a local user or a DBA would."""
    platform = target.platform
    if isinstance(platform, EmbeddedPlatform):
        path = platform.platform.data_dir / "identity.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return list(db.execute("SELECT kid, private_pem FROM signing_keys"))
    assert isinstance(platform, MultiProcessPlatform)
    url = platform.parts["identity"].database_url
    assert url is not None
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT kid, private_pem FROM signing_keys"))
            return [(row.kid, row.private_pem) for row in rows]
    finally:
        await engine.dispose()


def _forge_platform_admin(kid: str, pem: str) -> str | None:
    """A PlatformAdmin token signed with the stored key, if the stored key is usable."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return None
    now = int(time.time())
    claims = {
        "iss": "shopfleet",
        "aud": "shopfleet",
        "sub": str(uuid.uuid4()),
        "shop": "demo",
        "roles": ["PlatformAdmin"],
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]


async def test_a_stored_signing_key_cannot_sign_tokens(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 5: whoever reads identity's database cannot sign a PlatformAdmin token:
    signing keys are stored encrypted with a key from the secrets block."""
    keys = await _stored_signing_keys(target)
    assert keys, "identity has a signing key once it has started"
    for kid, pem in keys:
        forged = _forge_platform_admin(kid, pem)
        if forged is not None:
            answer = await client.get(f"{API}/users", headers={"authorization": f"Bearer {forged}"})
            assert answer.status_code == 401, f"a token signed with the stored key {kid}: {answer}"
        assert "PRIVATE KEY-----" not in pem


def _loose(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o077


async def test_the_data_dir_is_readable_by_its_owner_only(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 5: the data dir is 0700 and every file in it 0600 (databases with
    their -wal/-shm files, state, pub/sub, secrets, routes, logs, images)."""
    only(target, "embedded")
    assert isinstance(target.platform, EmbeddedPlatform)
    # Make the platform write what it writes on use: state (login throttle), a WAL, a log.
    await client.post(f"{API}/auth/login", json={"email": "x@example.com", "password": "nope"})
    data = target.platform.platform.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    names = {p.name for p in data.rglob("*")}
    assert {"identity.db", "state.db", "pubsub.db", "secrets.json"} <= names, names
    loose = {str(p.relative_to(data)): oct(_loose(p)) for p in data.rglob("*") if _loose(p)}
    assert loose == {}
