"""Sessions' and tokens' rules: refresh-token rotation with reuse detection, expiry, the
claims of an access token, when a signing key rotates and how long a retired one stays
published, and how far back the session feed reaches.

A session is a family of refresh tokens: each refresh spends one token and issues the next;
a spent token presented again means it was copied, so the whole family ends. A change of
password or roles, or an ended family, bumps the user's session version, which every
verifier compares with the `sv` claim of an access token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shopfleet.identity.domain.refusals import RefreshRefused

# Covers clock skew and a replica that signs with a just-retired key until its next reload.
JWKS_LEEWAY_S = 60


def hash_refresh_token(token: str) -> str:
    """What the database holds of a refresh token (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def refresh_expires_at(now: datetime, ttl_s: int) -> datetime:
    return now + timedelta(seconds=ttl_s)


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """A stored refresh token, as the rules need it."""

    id: str
    shop: str
    user_id: str
    family_id: str
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def spent(self) -> bool:
        return self.used_at is not None or self.revoked_at is not None


class RefreshVerdict(StrEnum):
    SPEND = "spend"  # the one use of a live token: spend it, issue the next of the family
    UNKNOWN = "unknown"  # not a token of this shop
    REUSED = "reused"  # spent or revoked already: a copy, so its family ends
    EXPIRED = "expired"
    ACCOUNT_GONE = "account-gone"


_REFUSALS = {
    RefreshVerdict.UNKNOWN: "The refresh token is not valid; log in again.",
    RefreshVerdict.REUSED: (
        "This refresh token was already used or revoked. Every session it belongs to has "
        "been ended, in case it was stolen; log in again."
    ),
    RefreshVerdict.EXPIRED: "The refresh token has expired; log in again.",
    RefreshVerdict.ACCOUNT_GONE: "The account no longer exists.",
}


def judge_refresh(stored: RefreshTokenRecord | None, shop: str, now: datetime) -> RefreshVerdict:
    """What presenting this refresh token in `shop` at `now` means (reuse before expiry:
    a copied token ends its family even when it has expired since)."""
    if stored is None or stored.shop != shop:
        return RefreshVerdict.UNKNOWN
    if stored.spent:
        return RefreshVerdict.REUSED
    if stored.expires_at <= now:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.SPEND


def refresh_refusal(verdict: RefreshVerdict) -> RefreshRefused:
    if verdict is RefreshVerdict.SPEND:
        raise ValueError("a token to spend is not refused")
    return RefreshRefused(_REFUSALS[verdict])


def ends_on_logout(stored: RefreshTokenRecord | None, shop: str) -> bool:
    """Logout ends the token's family if it is this shop's; unknown tokens are fine too."""
    return stored is not None and stored.shop == shop


def access_claims(
    *,
    issuer: str,
    audience: str,
    user_id: str,
    shop: str,
    roles: list[str],
    jti: str,
    issued_at: int,
    ttl_s: int,
    session_version: int,
) -> dict[str, object]:
    """The claims of an access token (DESIGN §5); `sv` is the user's session version."""
    return {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "shop": shop,
        "roles": roles,
        "jti": jti,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        "sv": session_version,
    }


def key_retention(access_token_ttl_s: int, reload_s: float) -> timedelta:
    """How long a retired signing key stays published: until every token it signed has
    expired, plus the time a replica may still sign with it (leeway or its reload period)."""
    return timedelta(seconds=access_token_ttl_s + max(JWKS_LEEWAY_S, reload_s))


def rotation_due(created_at: datetime, now: datetime, rotation: timedelta) -> bool:
    return created_at <= now - rotation


def feed_retention_s(access_token_ttl_s: int) -> int:
    """A user stays in the session feed while a token issued before its change may live."""
    return access_token_ttl_s + JWKS_LEEWAY_S


def feed_floor(since: float, now: float, retention_s: float) -> float:
    """The oldest change the feed answers `since` with: older ones concern no live token."""
    return max(since, now - retention_s)
