"""Signing keys encrypted at rest: AES-256-GCM under a key from the secrets block.

Whoever reads identity's database (a copy of `identity.db`, a backup, a DBA) must not be
able to sign tokens. Each private key's PEM is sealed with the platform's key-encryption
key (`kit/contracts/secrets.py`), its `kid` as associated data, so a sealed key cannot be
passed off as another row's. Keys stored in plaintext by an older version still load, and
`KeyRing.start()` seals them in place (`seal_plaintext_keys`).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.store import IdentityStore
from shopfleet.kit.blocks import Secrets
from shopfleet.kit.blocks.local import LocalSecrets
from shopfleet.kit.contracts.secrets import PLATFORM_SCOPE, SIGNING_KEY_ENCRYPTION_KEY

log = structlog.get_logger("shopfleet.identity.keys")

SEALED_PREFIX = "aes256gcm:v1:"
_NONCE_BYTES = 12


class KeyDecryptionError(RuntimeError):
    """A stored signing key does not open with the configured key-encryption key."""


class KeyCipher:
    """Seals and opens signing keys' PEM under one key-encryption key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the signing-key encryption key must be 32 bytes (base64url)")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, value: str) -> KeyCipher:
        try:
            key = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{SIGNING_KEY_ENCRYPTION_KEY} is not base64url: {exc}") from None
        return cls(key)

    def seal(self, kid: str, pem: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, pem.encode(), kid.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, kid: str, stored: str) -> str:
        if not is_sealed(stored):
            return stored  # stored by a version before encryption: sealed at start
        raw = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kid.encode()).decode()
        except InvalidTag:
            raise KeyDecryptionError(
                f"signing key {kid} does not open with the configured {SIGNING_KEY_ENCRYPTION_KEY}:"
                " restore the key it was sealed with, or rotate (`shopfleet keys rotate`) after "
                "restoring it"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def open_pem(cipher: KeyCipher | None, kid: str, stored: str) -> str:
    if cipher is not None:
        return cipher.open(kid, stored)
    if is_sealed(stored):
        raise KeyDecryptionError(
            f"signing key {kid} is encrypted, but no {SIGNING_KEY_ENCRYPTION_KEY} is configured"
        )
    return stored


def seal_pem(cipher: KeyCipher | None, kid: str, pem: str) -> str:
    return pem if cipher is None else cipher.seal(kid, pem)


async def load_cipher(store: Secrets) -> KeyCipher | None:
    """The key-encryption key from the secrets block, generated into a local secrets file.

    None (keys stored in plaintext, with a warning) when the block has none and cannot
    make one: in a cluster, create the Secret named in kit/contracts/secrets.py.
    """
    try:
        value = await store.get(PLATFORM_SCOPE, SIGNING_KEY_ENCRYPTION_KEY)
        if value is None and isinstance(store, LocalSecrets) and store.path is not None:
            generated = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            await store.put(PLATFORM_SCOPE, SIGNING_KEY_ENCRYPTION_KEY, generated)
            value = await store.get(PLATFORM_SCOPE, SIGNING_KEY_ENCRYPTION_KEY)
    except Exception as exc:  # e.g. the secret store is not scoped to identity
        log.warning("cannot read the signing-key encryption key", error=str(exc))
        value = None
    if value is None:
        log.warning(
            "signing keys are stored UNENCRYPTED: no signing-key encryption key is configured",
            secret=SIGNING_KEY_ENCRYPTION_KEY,
        )
        return None
    return KeyCipher.from_secret(value)


async def seal_plaintext_keys(session: AsyncSession, cipher: KeyCipher) -> int:
    """Encrypt every key an older version stored in plaintext; returns how many."""
    store = IdentityStore(session)
    plain = [(kid, pem) for kid, pem in await store.signing_key_pems() if not is_sealed(pem)]
    for kid, pem in plain:
        await store.replace_pem(kid, pem, cipher.seal(kid, pem))
    await session.commit()
    if plain:
        log.info("signing keys encrypted at rest", count=len(plain))
    return len(plain)
