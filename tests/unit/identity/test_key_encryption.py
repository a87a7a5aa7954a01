"""Sealing signing keys (issue 12, hole 5): only the key-encryption key opens them, and
only as the row they were sealed for."""

from __future__ import annotations

import base64
import os

import pytest

from shopfleet.identity.key_encryption import KeyCipher, KeyDecryptionError, open_pem, seal_pem

PEM = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"


def _cipher() -> KeyCipher:
    return KeyCipher(os.urandom(32))


def test_a_sealed_key_opens_with_its_key_and_kid_only() -> None:
    cipher = _cipher()
    sealed = cipher.seal("kid-1", PEM)
    assert "PRIVATE KEY" not in sealed
    assert cipher.open("kid-1", sealed) == PEM
    with pytest.raises(KeyDecryptionError, match="kid-2"):
        cipher.open("kid-2", sealed)  # another row's key passed off as this one
    with pytest.raises(KeyDecryptionError, match="does not open"):
        _cipher().open("kid-1", sealed)


def test_plaintext_keys_of_older_versions_still_open() -> None:
    assert _cipher().open("kid-1", PEM) == PEM
    assert open_pem(None, "kid-1", PEM) == PEM
    assert seal_pem(None, "kid-1", PEM) == PEM  # no key-encryption key: stored as before


def test_a_sealed_key_without_a_key_encryption_key_is_a_clear_error() -> None:
    with pytest.raises(KeyDecryptionError, match="no signing_key_encryption_key"):
        open_pem(None, "kid-1", _cipher().seal("kid-1", PEM))


def test_the_key_encryption_key_is_32_bytes_in_base64() -> None:
    raw = os.urandom(32)
    for text in (
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode(),
    ):
        sealed = KeyCipher.from_secret(text).seal("k", PEM)
        assert KeyCipher(raw).open("k", sealed) == PEM
    with pytest.raises(ValueError, match="32 bytes"):
        KeyCipher.from_secret(base64.urlsafe_b64encode(os.urandom(16)).decode())
