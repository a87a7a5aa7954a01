"""A burst of logins for many accounts: more password checks than the CPUs can do in time."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.security.conftest import API, Target
from tests.security.sources import client_from, fresh_address
from tests.support.problems import assert_problem

PASSWORD = "a burst of right passwords"
ACCOUNTS = 12  # × 5 = 60 at once: what the sidecar doubles take (about 100 at once)
LOGINS_PER_ACCOUNT = 5  # each from its own address: no login limit is involved


async def test_a_login_burst_is_shed_with_503_and_retry_after_not_504(target: Target) -> None:
    """Issue 12, hole 10: a login burst queued argon2 work past the gateway's timeout and ended
    in 504s. The queue of password checks is bounded: what does not fit is refused at once
    with 503 + Retry-After (problem+json), and everything else answers."""
    tag = uuid.uuid4().hex[:8]
    emails = [f"burst-{tag}-{n}@example.com" for n in range(ACCOUNTS)]
    async with target.client() as http:
        for email in emails:
            body = {"email": email, "password": PASSWORD, "display_name": "Burst"}
            for _ in range(20):  # a 503 from a busy hasher asks to retry
                registered = await http.post(f"{API}/auth/register", json=body)
                if registered.status_code != 503:
                    break
                await asyncio.sleep(float(registered.headers["Retry-After"]))
            assert registered.status_code == 201, registered.text

    async def login(email: str) -> httpx.Response:
        async with client_from(target, fresh_address()) as http:
            return await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})

    answers = await asyncio.gather(
        *(login(email) for email in emails for _ in range(LOGINS_PER_ACCOUNT))
    )
    statuses = [a.status_code for a in answers]
    counts = {status: statuses.count(status) for status in set(statuses)}
    assert set(statuses) <= {200, 503}, f"a login burst must answer 200 or 503: {counts}"
    assert counts.get(200, 0) >= 2, counts
    for answer in answers:
        if answer.status_code == 503:
            assert_problem(answer, 503)
            assert int(answer.headers["Retry-After"]) >= 1
