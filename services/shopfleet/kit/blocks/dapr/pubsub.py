"""`DaprPubSub`: the PubSub port on a Dapr pub/sub component (RabbitMQ in the cluster).

Publishing. The whole CloudEvent is sent as the event body with content type
`application/cloudevents+json`. Dapr then uses our envelope as is (adding only `topic`,
`pubsubname` and its trace fields) instead of wrapping the payload in one of its own. The
alternative, a plain JSON payload plus `cloudevent.id` / `cloudevent.type` publish metadata,
can override only Dapr's fixed set of attributes: our extension attribute `shop` would be
lost, and the event id (the inbox key every consumer de-duplicates on) would rest on a
metadata convention. With the full envelope, id, shop, source, type, time and
`traceparent` travel unchanged from the outbox row to every consumer.

Subscribing: programmatic, not declarative. The app answers `GET /dapr/subscribe` with one
entry per `Subscription` it declared in code (see `router()`):

    {"pubsubname": "pubsub", "topic": "order.placed",
     "route": "/dapr/events/shipping/order.placed", "deadLetterTopic": "deadletter",
     "metadata": {"consumerID": "shipping", "maxDeliveryAttempts": "5"}}

Why programmatic: the topic, the handler, the dead-letter topic and the attempt budget
come from the same `Subscription` object in the service's `events.py`, so the route the
sidecar calls and the code that serves it cannot drift apart; a new subscription ships with
the image, with no Kubernetes resource to render, scope and roll out alongside it; and the
embedded platform (local adapter) reads the very same declarations. Declarative
`Subscription` resources win when operators must re-route topics without a release, which
we do not need. `consumerID` is the rabbitmq component's queue-name metadata, so each
consumer (app-id) gets its own durable queue `<consumerID>-<topic>`. `maxDeliveryAttempts`
is read by the sidecar double; real Dapr takes the retry budget from the `Resiliency`
resource instead (see components/) and ignores it. One app should subscribe to a topic
once (real Dapr keeps one subscription per app and topic): every service subscribes as its
own app-id.

Delivery: the sidecar POSTs each CloudEvent to `/dapr/events/<consumer>/<topic>`; the
route parses it, awaits the handler and answers `{"status": "SUCCESS" | "RETRY" |
"DROP"}` with 200. A handler that raises, or answers something that is not a `Delivery`,
gets a 500 with `{"status": "RETRY", "message": ...}` (Dapr retries any non-2xx but 404).
After `stop()` the routes answer 503 (retry later) and `stop()` returns once the handlers
in flight have finished.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from shopfleet.kit.blocks.dapr.sidecar import DaprSidecar
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, PubSub, Subscription

log = structlog.get_logger(__name__)

CLOUDEVENTS_JSON = "application/cloudevents+json"
ROUTE_PREFIX = "/dapr/events"


class DaprPubSub(PubSub):
    def __init__(self, sidecar: DaprSidecar, pubsub_name: str = "pubsub") -> None:
        self.sidecar = sidecar
        self.pubsub_name = pubsub_name
        self._subs: dict[tuple[str, str], Subscription] = {}
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._released = False
        sidecar.acquire()

    # ------------------------------------------------------------------------- publishing

    async def publish(self, event: CloudEvent) -> None:
        if not event.topic:
            raise ValueError("an event needs a topic")
        body = event.to_json()
        client = await self.sidecar.client()
        try:
            async with asyncio.timeout(self.sidecar.call_timeout_s):
                await client.publish_event(
                    pubsub_name=self.pubsub_name,
                    topic_name=event.topic,
                    data=body,
                    data_content_type=CLOUDEVENTS_JSON,
                )
        except TimeoutError as exc:
            raise ConnectionError(
                f"publishing {event.id} to {event.topic!r}: the sidecar did not answer "
                f"within {self.sidecar.call_timeout_s:g}s"
            ) from exc

    # ------------------------------------------------------------------------- subscribing

    def subscribe(self, subscription: Subscription) -> None:
        key = (subscription.topic, subscription.consumer)
        if key in self._subs:
            raise ValueError(f"{subscription.consumer!r} already subscribes to {key[0]!r}")
        self._subs[key] = subscription

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def programmatic_subscriptions(self) -> list[dict[str, Any]]:
        """What `GET /dapr/subscribe` answers."""
        entries = []
        for sub in self._subs.values():
            entry: dict[str, Any] = {
                "pubsubname": self.pubsub_name,
                "topic": sub.topic,
                "route": route_for(sub),
                "metadata": {
                    "consumerID": sub.consumer,
                    "maxDeliveryAttempts": str(sub.max_attempts),
                },
            }
            if sub.dead_letter_topic and sub.dead_letter_topic != sub.topic:
                entry["deadLetterTopic"] = sub.dead_letter_topic
            entries.append(entry)
        return entries

    def router(self) -> APIRouter:
        """The routes the sidecar calls; `kit.service.service_app` mounts them."""
        router = APIRouter(include_in_schema=False)

        @router.get("/dapr/subscribe")
        async def dapr_subscribe() -> Response:
            return Response(
                orjson.dumps(self.programmatic_subscriptions()), 200, media_type="application/json"
            )

        @router.post(ROUTE_PREFIX + "/{consumer}/{topic}")
        async def dapr_event(consumer: str, topic: str, request: Request) -> Response:
            return await self._deliver(consumer, topic, await request.body())

        return router

    async def _deliver(self, consumer: str, topic: str, body: bytes) -> Response:
        sub = self._subs.get((topic, consumer))
        if sub is None:  # Dapr drops on 404: this app no longer subscribes to it
            return _answer(404, "DROP", f"no subscription of {consumer!r} to {topic!r}")
        if self._stopping:
            return _answer(503, "RETRY", "shutting down")
        try:
            event = CloudEvent.from_json(body)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            # Never parseable, so never deliverable: dead-letter it at once.
            return _answer(200, "DROP", f"not a CloudEvent: {exc!r}")
        self._inflight += 1
        self._idle.clear()
        bound = log.bind(topic=topic, consumer=consumer, event_id=event.id)
        try:
            answer = await sub.handler(event)
        except Exception as exc:
            bound.exception("pubsub.handler_failed")
            return _answer(500, "RETRY", f"{type(exc).__name__}: {exc}")
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
        try:
            outcome = Delivery(answer)
        except ValueError:
            bound.error("pubsub.handler_bad_answer", answer=repr(answer))
            return _answer(500, "RETRY", f"handler answered {answer!r}, not a Delivery")
        return _answer(200, outcome.value, f"handler answered {outcome.value}")

    # ------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Nothing to do: the sidecar reads `/dapr/subscribe` when the app is up."""
        self._stopping = False

    async def stop(self) -> None:
        self._stopping = True
        await self._idle.wait()
        if not self._released:
            self._released = True
            await self.sidecar.release()

    async def close(self) -> None:
        await self.stop()


def route_for(sub: Subscription) -> str:
    return f"{ROUTE_PREFIX}/{sub.consumer}/{sub.topic}"


def _answer(status: int, outcome: str, message: str) -> Response:
    return JSONResponse({"status": outcome, "message": message}, status_code=status)
