"""A running worker gets each notification an event records leased to it and handed over
after the commit: sent once without a claim round. Its lease still guards it: lost with the
worker (before or while sending), it is sent after the lease by whichever worker looks;
while leased, no replica takes it. Rounds with nothing due claim nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shopfleet.kit.contracts import events as ev
from shopfleet.notifications import store
from shopfleet.notifications.senders import Outgoing, Sender
from tests.integration.notifications.conftest import Events, NotificationsApi, new_user

Start = Callable[..., Awaitable[NotificationsApi]]
ADMIN = "admin-1"
LEASE_S = 300
# Rounds of a running worker: its first at start, then none within a test.
IDLE_POLL_S = 60


class Recording(Sender):
    """Records what it sends; with `gate`, each send first waits for the gate to open."""

    name = "recording"

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.sent: list[Outgoing] = []
        self.started = asyncio.Event()
        self.gate = gate

    async def send(self, message: Outgoing) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(message)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each claim transaction took, in order."""
    taken: list[int] = []
    claim_due = store.claim_due

    async def counted(*args: Any, **kwargs: Any) -> list[store.Claimed]:
        claimed = await claim_due(*args, **kwargs)
        taken.append(len(claimed))
        return claimed

    monkeypatch.setattr(store, "claim_due", counted)
    return taken


async def delivery(api: NotificationsApi, user: str) -> dict[str, Any]:
    answer = await api.list(ADMIN, admin=True, user=user)
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    return item["delivery"]


async def until_delivered(api: NotificationsApi, user: str) -> dict[str, Any]:
    for _ in range(400):
        state = await delivery(api, user)
        if state["status"] != "pending":
            return state
        await asyncio.sleep(0.025)
    raise AssertionError(f"still pending: {state}")


async def running(start: Start, sender: Sender, **changes: Any) -> NotificationsApi:
    return await start(
        using=sender,
        worker_enabled=True,
        poll_interval_s=IDLE_POLL_S,
        lease_s=LEASE_S,
        **changes,
    )


async def test_an_events_notification_is_sent_once_without_a_claim_round(
    start_notifications: Start, claims: list[int]
) -> None:
    sender = Recording()
    api = await running(start_notifications, sender)
    user = new_user()
    await api.register(user, "ada@example.com", "Ada Lovelace")
    await api.deliver(ev.ORDER_PAID, Events(user).paid())

    delivered = await until_delivered(api, user)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1
    [sent] = sender.sent
    assert (sent.email, sent.display_name) == ("ada@example.com", "Ada Lovelace")
    assert claims == []  # handed over, not claimed
    api.clock.advance(LEASE_S)
    assert await api.send_due() == 0  # and not again after its lease
    assert len(sender.sent) == 1


async def test_a_redelivered_event_is_not_sent_again(
    start_notifications: Start, claims: list[int]
) -> None:
    sender = Recording()
    api = await running(start_notifications, sender)
    user = new_user()
    placed = Events(user).placed()
    await api.deliver(ev.ORDER_PLACED, placed, event_id="evt-1")
    await until_delivered(api, user)
    await api.deliver(ev.ORDER_PLACED, placed, event_id="evt-1")  # pub/sub's at-least-once
    await asyncio.sleep(0.1)
    assert len(sender.sent) == 1 and claims == []


async def test_a_handover_lost_with_its_worker_is_sent_after_the_lease(
    start_notifications: Start,
) -> None:
    """The replica died after the event's commit, before sending: nothing was handed."""
    dying_sender = Recording()
    dying = await running(start_notifications, dying_sender)
    dying.app.state.deliveries.hand = lambda _claimed: None  # the process is gone
    user = new_user()
    await dying.deliver(ev.ORDER_PLACED, Events(user).placed())
    await dying.app.state.deliveries.stop()

    sender = Recording()
    survivor = await start_notifications(using=sender, lease_s=LEASE_S)
    assert await survivor.send_due() == 0  # leased to the dead replica
    survivor.clock.advance(LEASE_S)
    assert await survivor.send_due() == 1
    assert dying_sender.sent == [] and len(sender.sent) == 1
    delivered = await delivery(survivor, user)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1


async def test_a_worker_stopped_mid_send_leaves_it_to_the_lease(
    start_notifications: Start,
) -> None:
    stuck = Recording(gate=asyncio.Event())  # never opens: the send hangs
    dying = await running(start_notifications, stuck)
    user = new_user()
    await dying.deliver(ev.ORDER_PLACED, Events(user).placed())
    await asyncio.wait_for(stuck.started.wait(), 10)
    await dying.app.state.deliveries.stop(timeout_s=0.1)  # gives up on the send

    sender = Recording()
    survivor = await start_notifications(using=sender, lease_s=LEASE_S)
    assert await survivor.send_due() == 0
    survivor.clock.advance(LEASE_S)
    assert await survivor.send_due() == 1
    assert stuck.sent == [] and len(sender.sent) == 1
    assert (await delivery(survivor, user))["status"] == "delivered"


async def test_another_replica_does_not_take_a_handed_notification(
    start_notifications: Start,
) -> None:
    gate = asyncio.Event()
    slow = Recording(gate=gate)
    first = await running(start_notifications, slow)
    user = new_user()
    await first.deliver(ev.ORDER_PLACED, Events(user).placed())
    await asyncio.wait_for(slow.started.wait(), 10)

    other = Recording()
    second = await start_notifications(using=other, lease_s=LEASE_S)
    assert await second.send_due() == 0  # the first is sending it
    gate.set()
    delivered = await until_delivered(first, user)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1
    second.clock.advance(LEASE_S)
    assert await second.send_due() == 0
    assert len(slow.sent) == 1 and other.sent == []


async def test_a_worker_with_a_full_hand_leaves_more_to_its_rounds(
    start_notifications: Start, claims: list[int]
) -> None:
    """A handed backlog must not outlast its leases: past a batch, a round claims them."""
    gate = asyncio.Event()
    slow = Recording(gate=gate)
    api = await running(start_notifications, slow, batch_size=1)
    first, second = new_user(), new_user()
    await api.deliver(ev.ORDER_PLACED, Events(first).placed())
    await asyncio.wait_for(slow.started.wait(), 10)  # handed, and held at the gate
    await api.deliver(ev.ORDER_PLACED, Events(second).placed())
    for _ in range(400):  # the commit woke a round, which claimed it
        if claims:
            break
        await asyncio.sleep(0.025)
    assert claims == [1]
    gate.set()
    for user in (first, second):
        assert (await until_delivered(api, user))["attempts"] == 1
    assert sorted(message.user_id for message in slow.sent) == sorted([first, second])


async def test_rounds_with_nothing_due_claim_nothing(
    notifications: NotificationsApi, claims: list[int]
) -> None:
    """A round looks before it claims: idle polling writes nothing."""
    assert await notifications.send_due() == 0
    user = new_user()
    await notifications.deliver(ev.ORDER_PLACED, Events(user).placed())  # no worker runs:
    assert await notifications.send_due() == 1  # due at once, for a round
    assert await notifications.send_due() == 0
    assert claims == [1]


async def test_outcomes_of_one_round_are_each_recorded(start_notifications: Start) -> None:
    """The round's outcomes are written together; each delivery gets its own."""

    class FailingFor(Recording):
        def __init__(self, users: set[str]) -> None:
            super().__init__()
            self.users = users

        async def send(self, message: Outgoing) -> None:
            if message.user_id in self.users:
                raise RuntimeError("mailbox full")
            await super().send(message)

    users = [new_user() for _ in range(6)]
    sender = FailingFor(set(users[:2]))
    api = await start_notifications(using=sender)
    for user in users:
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
    assert await api.send_due() == 6
    states = {user: await delivery(api, user) for user in users}
    for user in users[:2]:
        assert states[user]["status"] == "pending" and states[user]["attempts"] == 1
    for user in users[2:]:
        assert states[user]["status"] == "delivered" and states[user]["attempts"] == 1
    assert len(sender.sent) == 4
