"""Access tokens signed here verify with the kit's TokenVerifier; refresh tokens are hashed."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shopfleet.identity.domain.sessions import hash_refresh_token
from shopfleet.identity.models import SigningKey
from shopfleet.identity.tokens import (
    encode_access_token,
    jwks_document,
    new_signing_key,
)
from shopfleet.kit.auth import TokenVerifier, Unauthenticated


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return new_signing_key(datetime.now(UTC))


def _private(key: SigningKey) -> rsa.RSAPrivateKey:
    private = serialization.load_pem_private_key(key.private_pem.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


def _token(key: SigningKey, **changes: Any) -> str:
    args: dict[str, Any] = {
        "issuer": "shopfleet",
        "audience": "shopfleet",
        "user_id": "u1",
        "shop": "acme",
        "roles": ["User"],
        "issued_at": int(time.time()),
        "ttl_s": 900,
    }
    return encode_access_token(_private(key), key.kid, **(args | changes))


def _verifier(*keys: SigningKey, audience: str = "shopfleet") -> TokenVerifier:
    async def fetch() -> dict[str, Any]:
        return jwks_document(list(keys))

    return TokenVerifier(fetch, issuer="shopfleet", audience=audience)


async def test_a_token_verifies_against_the_published_key(key: SigningKey) -> None:
    principal = await _verifier(key).verify(_token(key, roles=["Admin", "User"]))
    assert principal.user_id == "u1" and principal.shop == "acme"
    assert principal.roles == frozenset({"Admin", "User"}) and principal.is_admin
    assert principal.expires_at > time.time() + 800


async def test_the_kid_is_the_rfc7638_thumbprint_and_the_jwk_is_public(key: SigningKey) -> None:
    jwk = key.public_jwk
    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}
    canonical = f'{{"e":"{jwk["e"]}","kty":"RSA","n":"{jwk["n"]}"}}'.encode()
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert key.kid == thumbprint.decode() and key.active_slot == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issued_at": int(time.time()) - 1000}, "expired"),
        ({"audience": "someone-else"}, "invalid"),
        ({"issuer": "someone-else"}, "invalid"),
    ],
)
async def test_bad_tokens_are_refused(
    key: SigningKey, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        await _verifier(key).verify(_token(key, **changes))


async def test_a_token_of_an_unpublished_key_is_refused(key: SigningKey) -> None:
    other = new_signing_key(datetime.now(UTC))
    with pytest.raises(Unauthenticated, match="unknown key"):
        await _verifier(key).verify(_token(other))


async def test_a_tampered_token_is_refused(key: SigningKey) -> None:
    header, payload, signature = _token(key).split(".")
    forged = ".".join(
        [header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    with pytest.raises(Unauthenticated):
        await _verifier(key).verify(forged)


def test_refresh_tokens_are_stored_as_sha256_hex() -> None:
    digest = hash_refresh_token("abc")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
