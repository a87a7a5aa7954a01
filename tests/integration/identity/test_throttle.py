"""Login throttling: per account and per client address, 429 with Retry-After, reset on success."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from shopfleet.identity.throttle import LoginThrottle
from shopfleet.kit.blocks.local import LocalStateStore


async def _attempt(identity: Any, email: str, password: str, address: str = "203.0.113.7") -> Any:
    return await identity.http.post(
        identity.api("acme", "/auth/login"),
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": f"{address}, 10.0.0.1"},
    )


async def test_too_many_failures_for_an_account_are_refused_until_the_window_passes(
    identity: Any,
) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    for _ in range(3):  # max_failures_per_account in these tests
        assert (await _attempt(identity, "ann@example.com", "wrong")).status_code == 401

    # Even the right password waits now: that is what stops guessing.
    refused = await _attempt(identity, "ann@example.com", identity.PASSWORD, address="198.51.100.9")
    body = identity.assert_problem(refused, 429)
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert f"retry in {retry_after} seconds" in body["detail"]

    identity.clock.advance(retry_after)
    assert (await _attempt(identity, "ann@example.com", identity.PASSWORD)).status_code == 200


async def test_a_successful_login_resets_the_account_counter(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    for _ in range(2):
        assert (await _attempt(identity, "ann@example.com", "wrong")).status_code == 401
    assert (await _attempt(identity, "ann@example.com", identity.PASSWORD)).status_code == 200
    for _ in range(2):  # would be the 3rd and 4th failure without the reset
        assert (await _attempt(identity, "ann@example.com", "wrong")).status_code == 401
    assert (await _attempt(identity, "ann@example.com", identity.PASSWORD)).status_code == 200


async def test_too_many_failures_from_one_address_are_refused(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    for n in range(5):  # max_failures_per_address: spread over accounts, under each account's limit
        answer = await _attempt(identity, f"guess{n}@example.com", "wrong")
        assert answer.status_code == 401
    refused = await _attempt(identity, "ann@example.com", identity.PASSWORD)
    identity.assert_problem(refused, 429)
    assert "address" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 0
    # Someone else, from another address, is not affected.
    assert (
        await _attempt(identity, "ann@example.com", identity.PASSWORD, "192.0.2.1")
    ).status_code == 200


async def test_unknown_accounts_are_throttled_like_known_ones(identity: Any) -> None:
    await identity.create_shop("acme")
    for _ in range(3):
        assert (await _attempt(identity, "ghost@example.com", "wrong")).status_code == 401
    identity.assert_problem(
        await _attempt(identity, "ghost@example.com", "wrong", "192.0.2.2"), 429
    )


async def test_concurrent_failures_are_all_counted(tmp_path: Path) -> None:
    store = await LocalStateStore.open(tmp_path / "state.db")
    try:
        throttle = LoginThrottle(store, max_per_account=100, max_per_address=100, window_s=60)
        await asyncio.gather(
            *(throttle.record_failure("acme", "ann@example.com", "192.0.2.1") for _ in range(40))
        )
        # 40 of 100: not blocked; 60 more make it exactly the limit.
        assert await throttle.check("acme", "ann@example.com", "192.0.2.1") is None
        await asyncio.gather(
            *(throttle.record_failure("acme", "ann@example.com", f"192.0.2.{n}") for n in range(60))
        )
        blocked = await throttle.check("acme", "ann@example.com", "203.0.113.1")
        assert blocked is not None and blocked.scope == "account"
    finally:
        await store.close()
