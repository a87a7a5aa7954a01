from __future__ import annotations

import pytest

from shopfleet.kit.auth import Principal, TokenVerifier, Unauthenticated
from shopfleet.kit.errors import Problem


async def test_verifies_and_caches_until_expiry(mint) -> None:
    fetches = 0

    async def fetch() -> dict:
        nonlocal fetches
        fetches += 1
        return mint.jwks()

    verifier = TokenVerifier(fetch, issuer="shopfleet", audience="shopfleet")
    token = mint.token(shop="acme", roles=["Admin"], sub="u1")
    principal = await verifier.verify(token)
    assert principal.user_id == "u1" and principal.shop == "acme" and principal.is_admin
    assert await verifier.verify(token) is principal  # served from the cache
    assert fetches == 1


async def test_rejects_wrong_audience_issuer_and_garbage(mint) -> None:
    verifier = TokenVerifier(_static(mint), issuer="shopfleet", audience="someone-else")
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(mint.token(shop="acme"))
    with pytest.raises(Unauthenticated, match="malformed"):
        await verifier.verify("abc")


async def test_unknown_key_refetches_at_most_once_per_interval(mint) -> None:
    stranger = type(mint)()  # another key, which the JWKS does not know
    fetches = 0

    async def fetch() -> dict:
        nonlocal fetches
        fetches += 1
        return mint.jwks()

    verifier = TokenVerifier(fetch, issuer="shopfleet", audience="shopfleet", refetch_interval_s=60)
    await verifier.verify(mint.token(shop="acme"))
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="unknown key"):
            await verifier.verify(stranger.token(shop="acme"))
    assert fetches == 1  # forged kids cannot make us hammer identity


def _static(mint):
    async def fetch() -> dict:
        return mint.jwks()

    return fetch


async def test_identity_down_is_503_not_401(mint) -> None:
    async def down() -> dict:
        raise ConnectionError("refused")

    verifier = TokenVerifier(down, issuer="shopfleet", audience="shopfleet")
    with pytest.raises(Problem) as raised:
        await verifier.verify(mint.token(shop="acme"))
    assert raised.value.status == 503


def test_principal_scoping() -> None:
    user = Principal("u", "acme", frozenset({"User"}), "j", 0)
    operator = Principal("o", "acme", frozenset({"PlatformAdmin"}), "j", 0)
    assert user.may_act_in("acme") and not user.may_act_in("beta") and not user.is_admin
    assert operator.may_act_in("beta") and operator.is_admin
