"""Signing keys at rest: sealed with the key-encryption key from the secrets block; keys an
older version stored in plaintext are sealed at start and keep signing (issue 12, hole 5)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from shopfleet.identity.key_encryption import KeyDecryptionError
from shopfleet.identity.models import SigningKey
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.blocks.local import LocalSecrets
from shopfleet.kit.contracts.secrets import PLATFORM_SCOPE, SIGNING_KEY_ENCRYPTION_KEY
from tests.integration.identity.conftest import AppFactory, IdentityApi
from tests.support.clock import FakeClock


async def _stored(app: Any) -> dict[str, str]:
    async with app.state.db.reader() as reader:
        rows = await reader.execute(sa.select(SigningKey.kid, SigningKey.private_pem))
        return {kid: pem for kid, pem in rows}


def _loads_as_a_key(pem: str) -> bool:
    try:
        serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    return True


async def test_a_new_key_is_stored_sealed_with_a_generated_key_encryption_key(
    start_app: AppFactory, blocks: Blocks, clock: FakeClock, tmp_path: Path
) -> None:
    secrets_file = tmp_path / "secrets.json"
    blocks.secrets = LocalSecrets(secrets_file)
    app, http = await start_app()
    identity = IdentityApi(app, http, clock)

    stored = await _stored(app)
    assert stored and not any(_loads_as_a_key(pem) for pem in stored.values())
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    kek = orjson.loads(secrets_file.read_bytes())[PLATFORM_SCOPE][SIGNING_KEY_ENCRYPTION_KEY]
    assert len(base64.urlsafe_b64decode(kek)) == 32
    # And identity signs with it as before.
    await identity.create_shop("acme")
    me = identity.api("acme", "/users/me")
    token = await identity.admin_token("acme")
    assert (await http.get(me, headers=identity.bearer(token))).status_code == 200


async def test_a_plaintext_key_of_an_older_version_is_sealed_at_start_and_keeps_signing(
    start_app: AppFactory, blocks: Blocks, clock: FakeClock, tmp_path: Path
) -> None:
    old_app, old_http = await start_app()  # no key-encryption key: as before the fix
    old = IdentityApi(old_app, old_http, clock)
    (kid, pem), *_ = (await _stored(old_app)).items()
    assert _loads_as_a_key(pem)
    await old.create_shop("acme")
    token = await old.admin_token("acme")

    blocks.secrets = LocalSecrets(tmp_path / "secrets.json")
    app, http = await start_app()  # the upgraded replica on the same database

    stored = await _stored(app)
    assert list(stored) == [kid]  # the same key, now sealed: no rotation needed
    assert not _loads_as_a_key(stored[kid])
    me = old.api("acme", "/users/me")
    assert (await http.get(me, headers=old.bearer(token))).status_code == 200
    fresh = await IdentityApi(app, http, clock).admin_token("acme")
    assert (await http.get(me, headers=old.bearer(fresh))).status_code == 200


async def test_a_different_key_encryption_key_stops_identity_with_a_clear_error(
    start_app: AppFactory, blocks: Blocks, tmp_path: Path
) -> None:
    blocks.secrets = LocalSecrets(tmp_path / "secrets.json")
    await start_app()
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    blocks.secrets = LocalSecrets(
        environ={"SHOPFLEET_SECRET___PLATFORM__SIGNING_KEY_ENCRYPTION_KEY": other}
    )
    with pytest.raises(KeyDecryptionError, match="does not open"):
        await start_app()
