"""The verifier's view of changed sessions (issue 12, hole 6): ended sessions are refused,
changed roles apply to old tokens, and the view is fetched before it is relied on."""

from __future__ import annotations

import asyncio

import pytest

from shopfleet.kit.auth import Unauthenticated
from shopfleet.kit.contracts.sessions import SessionChange, SessionChanges
from shopfleet.kit.errors import Problem
from shopfleet.kit.sessions import OVERLAP_S, SessionView
from tests.support.clock import FakeClock


class Feed:
    """Identity's feed as a test sets it: the changes it serves and what it was asked."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.changes: list[SessionChange] = []
        self.asked: list[float] = []
        self.fail = False
        self.gate: asyncio.Event | None = None  # set: fetches wait for it

    def change(self, user: str, *, version: int = 0, roles: tuple[str, ...] = ("User",)) -> None:
        self.changes.append(
            SessionChange(
                shop="acme",
                user_id=user,
                version=version,
                roles=list(roles),
                changed_at=self.clock(),
            )
        )

    async def __call__(self, since: float) -> SessionChanges:
        self.asked.append(since)
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("identity is away")
        return SessionChanges(
            as_of=self.clock(),
            retention_s=960,
            changes=[c for c in self.changes if c.changed_at > since],
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def feed(clock: FakeClock) -> Feed:
    return Feed(clock)


async def test_a_token_older_than_its_users_session_version_is_refused(mint, clock, feed) -> None:
    verifier = mint.verifier(SessionView(feed, poll_s=1.0, clock=clock))
    feed.change("u1", version=1)
    with pytest.raises(Unauthenticated, match="session has ended"):
        await verifier.verify(mint.token(shop="acme", sub="u1"))  # issued before: no `sv`
    newer = await verifier.verify(mint.token(shop="acme", sub="u1", session_version=1))
    assert newer.user_id == "u1"
    other = await verifier.verify(mint.token(shop="acme", sub="u2"))  # not in the feed
    assert other.user_id == "u2"


async def test_an_old_token_acts_with_its_users_current_roles(mint, clock, feed) -> None:
    verifier = mint.verifier(SessionView(feed, poll_s=60.0, clock=clock))
    token = mint.token(shop="acme", roles=["Admin", "User"], sub="u1")
    assert (await verifier.verify(token)).is_admin
    feed.change("u1", roles=("User",))  # demoted; the view is not due for a poll
    # The gateway decides nothing by role: it goes by the view it has.
    assert (await verifier.verify(token, fresh_roles=False)).is_admin
    # A service asks identity before it trusts an Admin token.
    assert not (await verifier.verify(token)).is_admin
    assert (await verifier.verify(token)).roles == {"User"}


async def test_an_authoritative_view_is_trusted_without_a_fetch(mint, clock, feed) -> None:
    view = SessionView(feed, poll_s=60.0, authoritative=True, clock=clock)
    verifier = mint.verifier(view)
    token = mint.token(shop="acme", roles=["Admin"], sub="u1")
    assert (await verifier.verify(token)).is_admin
    assert (await verifier.verify(token)).is_admin
    assert len(feed.asked) == 1  # the first view only: identity updates it itself
    feed.change("u1", roles=("User",))
    await view.refresh()  # what identity does right after the change
    assert not (await verifier.verify(token)).is_admin


async def test_the_first_check_waits_for_the_view_and_fails_closed(mint, feed) -> None:
    feed.fail = True
    verifier = mint.verifier(SessionView(feed, poll_s=1.0))
    with pytest.raises(Problem) as raised:
        await verifier.verify(mint.token(shop="acme"))
    assert raised.value.status == 503
    feed.fail = False
    assert (await verifier.verify(mint.token(shop="acme"))).shop == "acme"


async def test_later_polls_run_in_the_background_and_overlap(clock, feed) -> None:
    view = SessionView(feed, poll_s=1.0, clock=clock)
    await view.catch_up()
    assert feed.asked == [0.0]
    assert not view.stale()
    clock.advance(1.5)
    assert view.stale()
    await view.catch_up()  # returns at once; the fetch runs in a task
    await asyncio.sleep(0.01)
    assert feed.asked[1] == pytest.approx(clock() - 1.5 - OVERLAP_S)


async def test_a_refresh_asked_during_a_fetch_fetches_again(clock, feed) -> None:
    view = SessionView(feed, poll_s=1.0, clock=clock)
    feed.gate = asyncio.Event()
    first = asyncio.create_task(view.refresh())
    await asyncio.sleep(0.01)  # the first fetch is under way: it may miss a change made now
    second = asyncio.create_task(view.refresh())
    third = asyncio.create_task(view.refresh())
    await asyncio.sleep(0.01)  # both asked while it ran
    feed.gate.set()
    await asyncio.gather(first, second, third)
    assert len(feed.asked) == 2  # the second and third share one fetch


async def test_a_failed_background_poll_keeps_the_view(mint, clock, feed) -> None:
    view = SessionView(feed, poll_s=1.0, clock=clock)
    feed.change("u1", version=2)
    await view.refresh()
    feed.fail = True
    clock.advance(5)
    await view.catch_up()
    await asyncio.sleep(0.01)
    with pytest.raises(Unauthenticated):
        view.apply(await mint.verifier().verify(mint.token(shop="acme", sub="u1")))
