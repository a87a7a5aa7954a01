"""Signing keys (RSA, in the database, encrypted: `key_encryption`), access-token issuing,
the JWKS, refresh-token secrets. The rules (claims, rotation, retention) are
`domain/sessions.py`'s; the SQL is `store.py`'s.

Exactly one key is active (a unique `active_slot`), so replicas that bootstrap or rotate
at the same moment cannot both win. Retired keys stay published until every token they
signed has expired. Each replica keeps the active key in memory and re-reads the table
every `reload_s`, which is how it sees a rotation made elsewhere (another replica, the CLI).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.domain.sessions import (
    access_claims,
    hash_refresh_token,
    key_retention,
    refresh_expires_at,
    rotation_due,
)
from shopfleet.identity.key_encryption import (
    KeyCipher,
    load_cipher,
    open_pem,
    seal_pem,
    seal_plaintext_keys,
)
from shopfleet.identity.models import SigningKey
from shopfleet.identity.store import IdentityStore
from shopfleet.kit.blocks import Secrets
from shopfleet.kit.db import Database

log = structlog.get_logger("shopfleet.identity.keys")


def new_signing_key(now: datetime, cipher: KeyCipher | None = None) -> SigningKey:
    """A fresh RSA-2048 key, sealed with `cipher`; its `kid` is the RFC 7638 thumbprint."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    kid = (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )
    jwk.pop("key_ops", None)  # RFC 7517: not together with "use"
    jwk.update(kid=kid, use="sig", alg="RS256")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningKey(
        kid=kid,
        private_pem=seal_pem(cipher, kid, pem),
        public_jwk=jwk,
        created_at=now,
        active_slot=1,
    )


async def ensure_signing_key(
    session: AsyncSession, *, now: datetime | None = None, cipher: KeyCipher | None = None
) -> SigningKey:
    """The active key, creating one if there is none (first start)."""
    key = await IdentityStore(session).active_signing_key()
    if key is not None:
        return key
    candidate = await asyncio.to_thread(new_signing_key, now or datetime.now(UTC), cipher)
    session.add(candidate)
    try:
        await session.commit()
        return candidate
    except IntegrityError:  # another replica created one first: use theirs
        await session.rollback()
        key = await IdentityStore(session).active_signing_key()
        assert key is not None
        return key


async def rotate_signing_key(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    expected_kid: str | None = None,
    cipher: KeyCipher | None = None,
) -> SigningKey:
    """Retire the active key and activate a new one; returns the key active afterwards.

    With `expected_kid`, rotate only if that key is still the active one (an age-based
    rotation that another replica may already have done).
    """
    now = now or datetime.now(UTC)
    candidate = await asyncio.to_thread(new_signing_key, now, cipher)
    retired = await IdentityStore(session).retire_active_key(now, expected_kid=expected_kid)
    if expected_kid is not None and retired == 0:
        await session.rollback()
        return await ensure_signing_key(session, now=now, cipher=cipher)
    session.add(candidate)
    try:
        await session.commit()
        return candidate
    except IntegrityError:  # a concurrent rotation won: the outcome is the same
        await session.rollback()
        return await ensure_signing_key(session, now=now, cipher=cipher)


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [dict(key.public_jwk) for key in keys]}


# ----------------------------------------------------------------------------- refresh tokens


def add_refresh_token(
    store: IdentityStore, *, shop: str, user_id: str, family_id: str, now: datetime, ttl_s: int
) -> str:
    """Store a new token of the family (hashed: the database never holds it); returns it."""
    token = secrets.token_urlsafe(32)
    store.add_refresh_token(
        shop=shop,
        user_id=user_id,
        family_id=family_id,
        token_hash=hash_refresh_token(token),
        now=now,
        expires_at=refresh_expires_at(now, ttl_s),
    )
    return token


# ----------------------------------------------------------------------------- the key ring


def encode_access_token(
    key: rsa.RSAPrivateKey,
    kid: str,
    *,
    issuer: str,
    audience: str,
    user_id: str,
    shop: str,
    roles: list[str],
    issued_at: int,
    ttl_s: int,
    session_version: int = 0,
) -> str:
    claims = access_claims(
        issuer=issuer,
        audience=audience,
        user_id=user_id,
        shop=shop,
        roles=roles,
        jti=uuid.uuid4().hex,
        issued_at=issued_at,
        ttl_s=ttl_s,
        session_version=session_version,
    )
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class KeyRing:
    """The in-memory view of the signing keys: signs access tokens and serves the JWKS.

    `start()` loads the keys (creating the first) and re-reads them every `reload_s` in
    the background, so signing and serving the JWKS never wait on the database (and never
    open a transaction inside a caller's).
    """

    def __init__(
        self,
        db: Database,
        *,
        issuer: str,
        audience: str,
        access_token_ttl_s: int,
        rotation_days: int,
        reload_s: float,
        secrets: Secrets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._secrets = secrets
        self._cipher: KeyCipher | None = None
        self._issuer = issuer
        self._audience = audience
        self.access_token_ttl_s = access_token_ttl_s
        self._rotation = timedelta(days=rotation_days)
        self._retention = key_retention(access_token_ttl_s, reload_s)
        self._reload_s = reload_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._kid = ""
        self._key: rsa.RSAPrivateKey | None = None
        self._jwks: dict[str, Any] = {"keys": []}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._secrets is not None:
            self._cipher = await load_cipher(self._secrets)
        if self._cipher is not None:
            async with self._db.session() as session:
                await seal_plaintext_keys(session, self._cipher)
        await self.reload()
        self._task = asyncio.create_task(self._reload_forever(), name="identity-key-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reload_s)
            try:
                await self.reload()
            except Exception:  # the database is away: keep signing with the keys we have
                log.warning("signing keys not reloaded", exc_info=True)

    async def reload(self) -> None:
        """Re-read the keys: create the first one, rotate one past its age, publish the rest."""
        async with self._lock:
            now = datetime.fromtimestamp(self._clock(), UTC)
            async with self._db.reader() as reader:  # the usual case: nothing to write
                active = await IdentityStore(reader).active_signing_key()
            if active is None or rotation_due(active.created_at, now, self._rotation):
                async with self._db.session() as session:
                    active = await (
                        ensure_signing_key(session, now=now, cipher=self._cipher)
                        if active is None
                        else rotate_signing_key(
                            session, now=now, expected_kid=active.kid, cipher=self._cipher
                        )
                    )
            async with self._db.reader() as reader:
                published = await IdentityStore(reader).published_signing_keys(now, self._retention)
            if active.kid != self._kid:
                pem = open_pem(self._cipher, active.kid, active.private_pem)
                private = serialization.load_pem_private_key(pem.encode(), None)
                assert isinstance(private, rsa.RSAPrivateKey)
                self._kid, self._key = active.kid, private
            self._jwks = jwks_document(published)

    async def jwks(self) -> dict[str, Any]:
        """The published keys (async: it is the fetcher of identity's own TokenVerifier)."""
        return self._jwks

    def issue_access_token(
        self, *, user_id: str, shop: str, roles: list[str], session_version: int = 0
    ) -> str:
        if self._key is None:
            raise RuntimeError("KeyRing.start() has not run")
        return encode_access_token(
            self._key,
            self._kid,
            issuer=self._issuer,
            audience=self._audience,
            user_id=user_id,
            shop=shop,
            roles=roles,
            issued_at=int(self._clock()),
            ttl_s=self.access_token_ttl_s,
            session_version=session_version,
        )
