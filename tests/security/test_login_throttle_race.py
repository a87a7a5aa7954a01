"""Parallel password guesses against one account, through the gateway."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from shopfleet.identity.settings import IdentitySettings
from tests.security.conftest import API, Target
from tests.security.sources import client_from, fresh_address
from tests.support.problems import assert_problem

PASSWORD = "the right password, at last"
LIMIT = IdentitySettings.model_fields["max_failures_per_account"].default
GUESSES = 60  # the sidecar doubles of the multi-process platform take about 100 at once
RIGHT_GUESS = 48  # the right password comes late in the burst, as in an attacker's list


async def test_parallel_guesses_never_verify_more_than_the_limit(target: Target) -> None:
    """Issue 12, hole 2: 100 concurrent logins for one account got past the throttle (the
    count was checked before the password check and the failure recorded after it): 97 × 401,
    the right password at guess 80 answered 200, 2 × 504. Every attempt is now reserved
    before the password is checked, so at most the limit's number of guesses are verified."""
    email = f"race-{uuid.uuid4().hex[:12]}@example.com"
    async with target.client() as http:
        registered = await http.post(
            f"{API}/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": "Race"},
        )
        assert registered.status_code == 201, registered.text

    failed = answered = 0
    limit_spent = asyncio.Event()  # LIMIT wrong guesses checked, or every other one answered

    async with client_from(target, fresh_address()) as http:

        async def guess(n: int) -> httpx.Response:
            nonlocal failed, answered
            if n == RIGHT_GUESS:
                await limit_spent.wait()
            password = PASSWORD if n == RIGHT_GUESS else f"wrong guess number {n}"
            answer = await http.post(
                f"{API}/auth/login", json={"email": email, "password": password}
            )
            failed += answer.status_code == 401
            answered += 1
            if failed >= LIMIT or answered == GUESSES - 1:
                limit_spent.set()
            return answer

        answers = await asyncio.gather(*(guess(n) for n in range(GUESSES)))

    statuses = [a.status_code for a in answers]
    counts = {status: statuses.count(status) for status in set(statuses)}
    assert set(statuses) <= {401, 429}, f"only 401 and 429 may answer a guess: {counts}"
    assert 1 <= counts.get(401, 0) <= LIMIT, f"more guesses checked than the limit: {counts}"
    refused = assert_problem(answers[RIGHT_GUESS], 429)
    assert int(answers[RIGHT_GUESS].headers["Retry-After"]) >= 1, refused
    # The account stays refused for everybody until the delay has passed.
    async with client_from(target, fresh_address()) as http:
        late = await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(late, 429)
