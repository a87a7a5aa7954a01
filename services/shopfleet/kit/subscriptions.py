"""The subscription router: how a service consumes typed topics (kit/contracts/events.py).

    router = EventRouter(CONSUMER, DatabaseInbox(db))

    @router.on(ev.ORDER_PAID)
    async def order_paid(session: AsyncSession, event: Received[ev.OrderPaid]) -> None:
        await shipments.create_for_paid_order(session, event.shop, event.payload)

    return router.subscriptions()  # what `create_app` subscribes

For each delivery the router validates the payload against the topic's model, once (one
that does not fit can never be processed: DROP, so it is dead-lettered), then runs the
handler through the consumer's inbox, so that each event id takes effect once, and
answers pub/sub: SUCCESS (done, or done before), DROP (`PermanentEventError`, or an
exception the router was told means unprocessable) or RETRY (anything else; with
`DatabaseInbox` the handler's writes rolled back with the inbox row). After SUCCESS, a
duplicate's too, it runs the route's `after_commit` hook with what the handler returned
(None for a duplicate: the handler did not run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Delivery, EventHandler, Subscription
from shopfleet.kit.contracts.topics import EventPayload, Topic
from shopfleet.kit.db import Database
from shopfleet.kit.inbox import Inbox, answer, delivery_context

log = structlog.get_logger("shopfleet.outbox")

P = TypeVar("P", bound=EventPayload)
P_co = TypeVar("P_co", covariant=True)
S = TypeVar("S")  # what a handler works in: the inbox's session, or nothing
S_co = TypeVar("S_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Received(Generic[P_co]):
    """One delivered event, its payload validated against its topic's model."""

    id: str
    shop: str
    topic: str
    payload: P_co


Handler = Callable[[S, Received[P]], Awaitable[Any]]
# The delivery, and what its handler returned on it (None: a duplicate, the handler did not run).
AfterCommit = Callable[[Received[P], Any], Awaitable[None]]


class ConsumerInbox(Protocol[S_co]):
    """Runs an event's effect at most once per consumer and event id."""

    async def once(
        self, consumer: str, event_id: str, effect: Callable[[S_co], Awaitable[None]]
    ) -> bool:
        """Run `effect`, unless the event took effect before (then False)."""
        ...


class DatabaseInbox:
    """The inbox table in the service's database: the inbox row and the handler's writes
    commit in one transaction, whose session the handler gets."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def once(
        self, consumer: str, event_id: str, effect: Callable[[AsyncSession], Awaitable[None]]
    ) -> bool:
        return await Inbox(consumer).once(self.db, event_id, effect)


class HandlersKeepTheInbox:
    """For a consumer with no database whose handlers write their own inbox mark together
    with their effect (the cart: a state-store key in the cart's own transaction). The
    handler gets nothing to work in (`None`)."""

    async def once(
        self, consumer: str, event_id: str, effect: Callable[[None], Awaitable[None]]
    ) -> bool:
        await effect(None)
        return True


@dataclass(frozen=True, slots=True)
class _Route(Generic[S, P]):
    topic: Topic[P]
    handler: Handler[S, P]
    after_commit: AfterCommit[P] | None


class EventRouter(Generic[S]):
    """One consumer's topics, each routed to one handler (`@router.on(TOPIC)`).

    `unprocessable` names exceptions that, like `PermanentEventError`, mean the event can
    never be processed (DROP), e.g. a projection's "this event breaks our rules".
    """

    def __init__(
        self,
        consumer: str,
        inbox: ConsumerInbox[S],
        *,
        unprocessable: tuple[type[Exception], ...] = (),
    ) -> None:
        self.consumer = consumer
        self.inbox = inbox
        self.unprocessable = unprocessable
        self._routes: dict[str, _Route[S, Any]] = {}

    def on(
        self, topic: Topic[P], *, after_commit: AfterCommit[P] | None = None
    ) -> Callable[[Handler[S, P]], Handler[S, P]]:
        """Route `topic` to the decorated handler. `after_commit` runs after each delivery
        answered SUCCESS (a duplicate's too), given what the handler returned (None for a
        duplicate); if it raises, the delivery answers RETRY, and the redelivery, a
        duplicate then, runs only the hook again."""

        def register(handler: Handler[S, P]) -> Handler[S, P]:
            if topic.name in self._routes:
                raise ValueError(f"{self.consumer} routes {topic.name} twice")
            self._routes[topic.name] = _Route(topic, handler, after_commit)
            return handler

        return register

    def subscriptions(self) -> list[Subscription]:
        """What the service subscribes, before the platform starts pub/sub."""
        return [
            Subscription(name, consumer=self.consumer, handler=self._deliver(route))
            for name, route in self._routes.items()
        ]

    def _deliver(self, route: _Route[S, P]) -> EventHandler:
        async def deliver(event: CloudEvent) -> Delivery:
            context = delivery_context(self.consumer, event)
            try:
                payload = route.topic.model.model_validate(event.data)
            except ValidationError as exc:
                error = f"{event.topic} payload does not fit its contract: {exc}"
                log.warning("inbox.dropped", error=error, **context)
                return Delivery.DROP
            received = Received(event.id, event.shop, event.topic, payload)
            returned: list[Any] = []  # the handler's result, if it ran and committed

            async def effect(scope: S) -> None:
                returned[:] = [await route.handler(scope, received)]

            work = self.inbox.once(self.consumer, event.id, effect)
            outcome = await answer(work, context, unprocessable=self.unprocessable)
            if outcome is Delivery.SUCCESS and route.after_commit is not None:
                result = returned[0] if returned else None
                return await _after_commit(route.after_commit, received, result, context)
            return outcome

        return deliver


async def _after_commit(
    hook: AfterCommit[P], received: Received[P], result: Any, context: dict[str, str]
) -> Delivery:
    try:
        await hook(received, result)
    except Exception:
        log.exception("inbox.after_commit_failed", **context)
        return Delivery.RETRY
    return Delivery.SUCCESS
