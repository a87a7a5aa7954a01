"""Signing keys (RSA, in the database, encrypted: `key_encryption`), access-token issuing,
the JWKS, refresh-token secrets.

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
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.identity.key_encryption import (
    KeyCipher,
    load_cipher,
    open_pem,
    seal_pem,
    seal_plaintext_keys,
)
from shopfleet.identity.models import RefreshToken, SigningKey, User
from shopfleet.kit.blocks import Secrets
from shopfleet.kit.db import Database, rowcount

log = structlog.get_logger("shopfleet.identity.keys")

# Covers clock skew and a replica that signs with a just-retired key until its next reload.
JWKS_LEEWAY_S = 60


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


async def active_signing_key(session: AsyncSession) -> SigningKey | None:
    return await session.scalar(sa.select(SigningKey).where(col(SigningKey.active_slot) == 1))


async def ensure_signing_key(
    session: AsyncSession, *, now: datetime | None = None, cipher: KeyCipher | None = None
) -> SigningKey:
    """The active key, creating one if there is none (first start)."""
    key = await active_signing_key(session)
    if key is not None:
        return key
    candidate = await asyncio.to_thread(new_signing_key, now or datetime.now(UTC), cipher)
    session.add(candidate)
    try:
        await session.commit()
        return candidate
    except IntegrityError:  # another replica created one first: use theirs
        await session.rollback()
        key = await active_signing_key(session)
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
    retire = sa.update(SigningKey).where(col(SigningKey.active_slot) == 1)
    if expected_kid is not None:
        retire = retire.where(col(SigningKey.kid) == expected_kid)
    result = await session.execute(retire.values(active_slot=None, retired_at=now))
    if expected_kid is not None and rowcount(result) == 0:
        await session.rollback()
        return await ensure_signing_key(session, now=now, cipher=cipher)
    session.add(candidate)
    try:
        await session.commit()
        return candidate
    except IntegrityError:  # a concurrent rotation won: the outcome is the same
        await session.rollback()
        return await ensure_signing_key(session, now=now, cipher=cipher)


async def published_signing_keys(
    session: AsyncSession, *, now: datetime, retention: timedelta
) -> list[SigningKey]:
    """The active key and the retired ones whose tokens may still be unexpired."""
    query = (
        sa.select(SigningKey)
        .where(
            sa.or_(
                col(SigningKey.retired_at).is_(None), col(SigningKey.retired_at) > now - retention
            )
        )
        .order_by(col(SigningKey.created_at).desc())
    )
    return list((await session.scalars(query)).all())


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [dict(key.public_jwk) for key in keys]}


# ----------------------------------------------------------------------------- refresh tokens


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_refresh_token(
    session: AsyncSession, *, shop: str, user_id: str, family_id: str, now: datetime, ttl_s: int
) -> str:
    """Store a new token of the family (hashed: the database never holds it); returns it."""
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            shop=shop,
            user_id=user_id,
            family_id=family_id,
            token_hash=hash_refresh_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    return token


async def find_refresh_token(session: AsyncSession, token: str) -> RefreshToken | None:
    query = sa.select(RefreshToken).where(col(RefreshToken.token_hash) == hash_refresh_token(token))
    return await session.scalar(query)


async def spend_refresh_token(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """Mark the token used; False if another request spent or revoked it first."""
    result = await session.execute(
        sa.update(RefreshToken)
        .where(
            col(RefreshToken.id) == token_id,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=now)
    )
    return rowcount(result) == 1


async def revoke_refresh_tokens(
    session: AsyncSession,
    now: datetime,
    *,
    family_id: str | None = None,
    user_id: str | None = None,
) -> None:
    """Revoke a whole family, or every family of a user."""
    query = sa.update(RefreshToken).where(col(RefreshToken.revoked_at).is_(None))
    if family_id is not None:
        query = query.where(col(RefreshToken.family_id) == family_id)
    if user_id is not None:
        query = query.where(col(RefreshToken.user_id) == user_id)
    await session.execute(query.values(revoked_at=now))


async def end_access_tokens(session: AsyncSession, user_id: str, now: datetime) -> None:
    """Bump the user's session version: every verifier refuses tokens issued before."""
    await session.execute(
        sa.update(User)
        .where(col(User.id) == user_id)
        .values(session_version=col(User.session_version) + 1, sessions_changed_at=now)
        .execution_options(synchronize_session=False)
    )


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
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "shop": shop,
        "roles": roles,
        "jti": uuid.uuid4().hex,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        "sv": session_version,  # the user's session version: kit/sessions.py
    }
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
        self._retention = timedelta(seconds=access_token_ttl_s + max(JWKS_LEEWAY_S, reload_s))
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
                active = await active_signing_key(reader)
            if active is None or active.created_at <= now - self._rotation:
                async with self._db.session() as session:
                    active = await (
                        ensure_signing_key(session, now=now, cipher=self._cipher)
                        if active is None
                        else rotate_signing_key(
                            session, now=now, expected_kid=active.kid, cipher=self._cipher
                        )
                    )
            async with self._db.reader() as reader:
                published = await published_signing_keys(reader, now=now, retention=self._retention)
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
