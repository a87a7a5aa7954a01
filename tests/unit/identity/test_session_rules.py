"""Sessions' and tokens' rules (identity/domain/sessions.py), with no database: which refresh
token may be spent, what a reuse or an expiry answers, the access token's claims, signing-key
rotation and retention, and how far back the session feed reaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopfleet.identity.domain.sessions import (
    RefreshTokenRecord,
    RefreshVerdict,
    access_claims,
    ends_on_logout,
    feed_floor,
    feed_retention_s,
    judge_refresh,
    key_retention,
    refresh_expires_at,
    refresh_refusal,
    rotation_due,
)
from shopfleet.kit.errors import problem_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _token(
    *,
    expires_at: datetime = NOW + timedelta(days=30),
    used_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        id="t1",
        shop="acme",
        user_id="u1",
        family_id="f1",
        expires_at=expires_at,
        used_at=used_at,
        revoked_at=revoked_at,
    )


def test_a_live_token_of_the_shop_is_spent() -> None:
    assert judge_refresh(_token(), "acme", NOW) is RefreshVerdict.SPEND


def test_an_unknown_token_is_not_valid() -> None:
    assert judge_refresh(None, "acme", NOW) is RefreshVerdict.UNKNOWN


def test_another_shops_token_is_as_unknown_here() -> None:
    assert judge_refresh(_token(), "other", NOW) is RefreshVerdict.UNKNOWN


@pytest.mark.parametrize("spent", [{"used_at": NOW}, {"revoked_at": NOW}])
def test_a_used_or_revoked_token_is_a_reuse(spent: dict[str, datetime]) -> None:
    token = _token(used_at=spent.get("used_at"), revoked_at=spent.get("revoked_at"))
    assert token.spent
    assert judge_refresh(token, "acme", NOW) is RefreshVerdict.REUSED


def test_a_reuse_is_detected_even_after_expiry() -> None:
    token = _token(used_at=NOW, expires_at=NOW - timedelta(days=1))
    assert judge_refresh(token, "acme", NOW) is RefreshVerdict.REUSED


def test_a_token_expires_at_its_expiry_exactly() -> None:
    token = _token(expires_at=NOW)
    assert judge_refresh(token, "acme", NOW - timedelta(seconds=1)) is RefreshVerdict.SPEND
    assert judge_refresh(token, "acme", NOW) is RefreshVerdict.EXPIRED


@pytest.mark.parametrize(
    ("verdict", "says"),
    [
        (RefreshVerdict.UNKNOWN, "not valid"),
        (RefreshVerdict.REUSED, "Every session it belongs to has been ended"),
        (RefreshVerdict.EXPIRED, "expired"),
        (RefreshVerdict.ACCOUNT_GONE, "no longer exists"),
    ],
)
def test_every_refused_refresh_is_a_401_bearer_challenge(
    verdict: RefreshVerdict, says: str
) -> None:
    problem = problem_for(refresh_refusal(verdict))
    assert problem.status == 401 and problem.slug == "unauthenticated"
    assert problem.headers == {"WWW-Authenticate": 'Bearer realm="shopfleet"'}
    assert says in problem.detail


def test_a_token_to_spend_has_no_refusal() -> None:
    with pytest.raises(ValueError):
        refresh_refusal(RefreshVerdict.SPEND)


def test_logout_ends_only_this_shops_tokens() -> None:
    assert ends_on_logout(_token(), "acme")
    assert not ends_on_logout(_token(), "other")
    assert not ends_on_logout(None, "acme")


def test_a_refresh_token_lives_its_ttl() -> None:
    assert refresh_expires_at(NOW, 3600) == NOW + timedelta(hours=1)


def test_access_claims_carry_the_session_version_and_expiry() -> None:
    claims = access_claims(
        issuer="iss",
        audience="aud",
        user_id="u1",
        shop="acme",
        roles=["User"],
        jti="j",
        issued_at=1000,
        ttl_s=900,
        session_version=4,
    )
    assert claims == {
        "iss": "iss",
        "aud": "aud",
        "sub": "u1",
        "shop": "acme",
        "roles": ["User"],
        "jti": "j",
        "iat": 1000,
        "exp": 1900,
        "sv": 4,
    }


@pytest.mark.parametrize(("reload_s", "kept_s"), [(30, 900 + 60), (300, 900 + 300)])
def test_a_retired_key_stays_published_past_its_last_token(reload_s: float, kept_s: int) -> None:
    assert key_retention(900, reload_s) == timedelta(seconds=kept_s)


def test_a_key_rotates_once_it_is_as_old_as_the_rotation_period() -> None:
    week = timedelta(days=7)
    assert not rotation_due(NOW - week + timedelta(seconds=1), NOW, week)
    assert rotation_due(NOW - week, NOW, week)


def test_the_feed_keeps_changes_while_a_token_issued_before_may_live() -> None:
    assert feed_retention_s(900) == 960
    assert feed_floor(since=0, now=10_000, retention_s=960) == 9040  # older concern no token
    assert feed_floor(since=9500, now=10_000, retention_s=960) == 9500
