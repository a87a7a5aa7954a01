"""Login throttling: per account and per client address, 429 with Retry-After, reset on success."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shopfleet.identity.throttle import Attempt, LoginThrottle, Throttled
from shopfleet.kit.blocks.local import LocalStateStore
from tests.integration.identity.conftest import IdentityApi
from tests.support.clock import FakeClock


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


async def test_parallel_attempts_on_a_real_store_never_exceed_the_limit(tmp_path: Path) -> None:
    store = await LocalStateStore.open(tmp_path / "state.db")
    try:
        throttle = LoginThrottle(store, max_per_account=5, max_per_address=100, window_s=60)
        outcomes = await asyncio.gather(
            *(throttle.reserve("acme", "ann@example.com", f"192.0.2.{n}") for n in range(40)),
            return_exceptions=True,
        )
        granted = [o for o in outcomes if isinstance(o, Attempt)]
        assert len(granted) == 5
        assert all(isinstance(o, Throttled) for o in outcomes if not isinstance(o, Attempt))
        await asyncio.gather(*(attempt.fail() for attempt in granted))  # all five counted
        with pytest.raises(Throttled) as refused:
            await throttle.reserve("acme", "ann@example.com", "203.0.113.1")
        assert "failed logins for this account" in refused.value.detail
    finally:
        await store.close()


async def test_parallel_wrong_logins_check_at_most_the_limit(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.register("acme", "ann@example.com")
    answers = await asyncio.gather(
        *(_attempt(identity, "ann@example.com", f"wrong {n}", f"192.0.2.{n}") for n in range(20))
    )
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(401) == 3 and statuses.count(429) == 17  # 3: the account's limit


async def test_a_shop_admin_unlocks_an_account(identity: Any) -> None:
    await identity.create_shop("acme")
    await identity.create_shop("other")
    ann = await identity.register("acme", "ann@example.com")
    for _ in range(3):
        assert (await _attempt(identity, "ann@example.com", "wrong")).status_code == 401
    identity.assert_problem(await _attempt(identity, "ann@example.com", identity.PASSWORD), 429)

    unlock = identity.api("acme", f"/users/{ann['id']}/unlock")
    other_admin = identity.bearer(await identity.admin_token("other"))
    # Another shop's Admin finds nothing here; a user of the shop may not.
    identity.assert_problem(await identity.http.post(unlock, headers=other_admin), 404)
    bob = identity.bearer(await identity.user_token("acme", "bob@example.com"))
    identity.assert_problem(await identity.http.post(unlock, headers=bob), 403)
    admin = identity.bearer(await identity.admin_token("acme"))
    missing = identity.api("acme", "/users/00000000-0000-0000-0000-000000000000/unlock")
    identity.assert_problem(await identity.http.post(missing, headers=admin), 404)

    assert (await identity.http.post(unlock, headers=admin)).status_code == 204
    assert (await _attempt(identity, "ann@example.com", identity.PASSWORD)).status_code == 200


async def test_the_platform_gets_an_admin_token_whatever_the_admin_s_login_state(
    identity: Any,
) -> None:
    tenant = await identity.create_shop("acme")
    for _ in range(3):  # the admin locked out by someone else
        await _attempt(identity, "admin@acme.example.com", "wrong")
    path = "/internal/tenants/acme/admin-token"
    identity.assert_problem(await identity.http.post(path), 401)
    identity.assert_problem(
        await identity.http.post(path, headers=identity.bearer("not the platform token")), 401
    )
    issued = await identity.http.post(path, headers=identity.platform)
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    assert issued.json()["user_id"] == tenant["admin_user_id"]
    admin = identity.bearer(issued.json()["access_token"])
    users = await identity.http.get(identity.api("acme", "/users"), headers=admin)
    assert users.status_code == 200, users.text
    missing = await identity.http.post(
        "/internal/tenants/nope/admin-token", headers=identity.platform
    )
    identity.assert_problem(missing, 404)


async def test_a_burst_beyond_the_hasher_queue_is_refused_with_503(
    start_app: Any, clock: FakeClock
) -> None:
    app, http = await start_app(
        argon2_max_concurrent=1, argon2_max_waiting=2, argon2_memory_cost_kib=8192
    )
    identity = IdentityApi(app, http, clock)
    await identity.create_shop("acme")
    emails = [f"user{n}@example.com" for n in range(10)]
    for email in emails:
        await identity.register("acme", email)
    answers = await asyncio.gather(
        *(
            _attempt(identity, email, identity.PASSWORD, f"192.0.2.{n}")
            for n, email in enumerate(emails)
        )
    )
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    for answer in answers:
        if answer.status_code == 503:
            identity.assert_problem(answer, 503)
            assert int(answer.headers["Retry-After"]) >= 1
    # Nothing was counted against the refused: they log in once the burst is over.
    for n, email in enumerate(emails):
        assert (
            await _attempt(identity, email, identity.PASSWORD, f"192.0.2.{n}")
        ).status_code == 200
