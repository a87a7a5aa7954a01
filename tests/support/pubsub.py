"""A recording pub/sub double for a service under test.

It keeps what the outbox relay publishes (and waits for it), and it keeps the
subscriptions the app declares so a test can deliver events to the app's real handlers
(inbox and all), as the broker would: again, late, or out of order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shopfleet.kit.blocks import CloudEvent, Delivery, PubSub, Subscription, new_event_id


class RecordingPubSub(PubSub):
    """Collects what the outbox relay publishes; delivers events to declared subscriptions.

    `settle_s`: once `wait_for` has its events, it waits this long more and answers with
    everything published on the topic by then (so events beyond `count` show too).
    """

    def __init__(self, *, settle_s: float = 0.0) -> None:
        self.published: list[CloudEvent] = []
        self.subscriptions: dict[str, list[Subscription]] = {}
        self.settle_s = settle_s

    async def publish(self, event: CloudEvent) -> None:
        self.published.append(event)

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.setdefault(subscription.topic, []).append(subscription)

    async def deliver(
        self,
        event: CloudEvent | str,
        data: dict[str, Any] | None = None,
        *,
        shop: str = "acme",
        event_id: str | None = None,
    ) -> Delivery:
        """Hand `event` to the one subscriber of its topic, as the broker would.

        `event` is a CloudEvent, or a topic whose event is made of `data`, `shop` and
        `event_id` (a new id when not given).
        """
        if isinstance(event, str):
            assert data is not None, "a topic needs its event's data"
            event = CloudEvent(id=event_id or new_event_id(), topic=event, data=data, shop=shop)
        (subscription,) = self.subscriptions[event.topic]
        return await subscription.handler(event)

    def topics(self, topic: str) -> list[CloudEvent]:
        """What was published on `topic` so far."""
        return [e for e in self.published if e.topic == topic]

    topic = topics

    def _matching(self, topic: str, match: dict[str, Any]) -> list[CloudEvent]:
        return [
            e
            for e in self.topics(topic)
            if all(e.data.get(key) == value for key, value in match.items())
        ]

    async def wait_for(
        self, topic: str, count: int = 1, timeout_s: float = 5.0, **match: Any
    ) -> list[CloudEvent]:
        """At least `count` events on `topic` whose data has the `match` values."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self._matching(topic, match)
            if len(found) >= count:
                if self.settle_s:
                    await asyncio.sleep(self.settle_s)  # anything beyond `count` arrives too
                    found = self._matching(topic, match)
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{count} '{topic}' {match} events expected, got {self.published}"
                )
            await asyncio.sleep(0.01)
