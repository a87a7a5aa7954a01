"""The double's pub/sub: RabbitMQ through aio-pika, delivering to the app as Dapr does.

Topology (like Dapr's `pubsub.rabbitmq` with `durable: true`, `deliveryMode: 2`):

- one durable topic exchange per pub/sub component, `<prefix><pubsub>`; an event is
  published persistent with routing key = topic, with publisher confirms;
- one durable queue per subscription, `<prefix><consumerID>-<topic>` (consumerID: the
  component's, as daprd, which defaults it to the app-id; with flags and no component, the
  subscription metadata's, else the app-id), bound with the topic as binding key; a
  namespace-scoped component (`{namespace}` in its metadata) makes every topic
  `<namespace><topic>` on the broker, as daprd does. A topic
  nobody subscribed to yet has no queue: its events are dropped, as in RabbitMQ.

Delivery (like daprd's subscription runtime): each message is POSTed to the app's route
as `application/cloudevents+json`; while a delivery is in flight the message stays unacked.
The app's answer:

- 2xx with `{"status": "SUCCESS"}` (or no/unknown body) -> ack;
- 2xx `RETRY`, or any non-2xx but 404, or no answer -> retried in-process with exponential
  back-off (daprd's resiliency policy), up to the subscription's `maxDeliveryAttempts`
  (metadata; default `default_max_attempts`), then dead-lettered;
- 2xx `DROP` -> dead-lettered at once (Dapr >= 1.16 sends DROP to the dead-letter topic);
- 404 -> dropped without dead-lettering (Dapr: the route is gone).

Dead-lettering publishes the original CloudEvent bytes unchanged (its `topic` still names
the topic it failed on) to the subscription's `deadLetterTopic` on the same exchange, acks
the original, and records it in `dead_letters` (for tests and operators).

If the double dies (or `crash()`), unacked messages go back to their queue and are
delivered again by the next double on the same queue: the attempt count restarts then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiohttp
import orjson
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

log = structlog.get_logger("sidecar.broker")

CLOUDEVENTS_JSON = "application/cloudevents+json"


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the app's `GET /dapr/subscribe`."""

    pubsub: str
    topic: str
    path: str
    consumer: str
    dead_letter_topic: str | None
    max_attempts: int

    @property
    def label(self) -> str:
        return f"{self.consumer}-{self.topic}"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    route: Route
    body: bytes  # the CloudEvent JSON as published
    attempts: int
    reason: str  # "drop" | "max_attempts"
    error: str | None
    dead_at: float = field(default_factory=time.time)


class Broker:
    def __init__(
        self,
        *,
        amqp_url: str,
        prefix: str,
        pubsubs: tuple[str, ...],
        app_base_url: str | None,
        app_headers: dict[str, str] | None = None,
        app_id: str,
        default_max_attempts: int,
        retry_base_s: float,
        retry_max_s: float,
        prefetch: int,
        delivery_timeout_s: float,
        durable: bool = True,
        auto_delete: bool = False,
        persistent: bool = True,
        publisher_confirms: bool = True,
        consumer_id: str | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self.pubsubs = pubsubs
        self.app_base_url = app_base_url
        self.app_headers = dict(app_headers or {})  # the app API token, when there is one
        self.app_id = app_id
        self.default_max_attempts = default_max_attempts
        self.retry_base_s, self.retry_max_s = retry_base_s, retry_max_s
        self.prefetch = prefetch
        self.delivery_timeout_s = delivery_timeout_s
        # From a pubsub.rabbitmq component's metadata (durable, deletedWhenUnused,
        # deliveryMode, publisherConfirm, consumerID); the defaults are the flags' layout.
        self.durable = durable
        self.auto_delete = auto_delete
        self.persistent = persistent
        self.publisher_confirms = publisher_confirms
        self.consumer_id = consumer_id
        # daprd's namespace-scoped pub/sub (`{namespace}` in the component's metadata):
        # every topic is `<namespace><topic>` on the broker, for publishing and subscribing.
        self.topic_prefix = topic_prefix
        self.routes: list[Route] = []
        self.dead_letters: list[DeadLetterRecord] = []
        self.declared_queues: set[str] = set()
        self._connection: AbstractConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._closing = asyncio.Event()

    def exchange_name(self, pubsub: str) -> str:
        return f"{self.prefix}{pubsub}"

    def queue_name(self, route: Route) -> str:
        return f"{self.prefix}{route.consumer}-{self.topic_prefix}{route.topic}"

    async def open(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        if not self.pubsubs:
            return  # no pub/sub component configured: no broker connection
        self._connection = await aio_pika.connect(self.amqp_url, timeout=10)
        self._publish_channel = await self._connection.channel(
            publisher_confirms=self.publisher_confirms
        )
        for pubsub in self.pubsubs:
            self._exchanges[pubsub] = await self._publish_channel.declare_exchange(
                self.exchange_name(pubsub), aio_pika.ExchangeType.TOPIC, durable=self.durable
            )

    async def publish(self, pubsub: str, topic: str, body: bytes) -> None:
        exchange = self._exchanges[pubsub]
        message = aio_pika.Message(
            body,
            content_type=CLOUDEVENTS_JSON,
            delivery_mode=(
                aio_pika.DeliveryMode.PERSISTENT
                if self.persistent
                else aio_pika.DeliveryMode.NOT_PERSISTENT
            ),
        )
        await exchange.publish(message, routing_key=self.topic_prefix + topic, mandatory=False)

    # ------------------------------------------------------------------------- subscribing

    async def declare(self, routes: list[Route]) -> dict[Route, AbstractQueue]:
        """Declare each route's durable queue and its binding (idempotent)."""
        assert self._connection is not None, "subscriptions need a pub/sub component"
        if self._consume_channel is None:
            self._consume_channel = await self._connection.channel()
            await self._consume_channel.set_qos(prefetch_count=self.prefetch)
        queues = {}
        for route in routes:
            exchange = await self._consume_channel.declare_exchange(
                self.exchange_name(route.pubsub), aio_pika.ExchangeType.TOPIC, durable=self.durable
            )
            name = self.queue_name(route)
            queue = await self._consume_channel.declare_queue(
                name, durable=self.durable, auto_delete=self.auto_delete
            )
            self.declared_queues.add(name)
            await queue.bind(exchange, routing_key=self.topic_prefix + route.topic)
            queues[route] = queue
        return queues

    async def subscribe(self, routes: list[Route]) -> None:
        """Declare a durable queue per route and start delivering to the app."""
        self.routes = routes
        if not routes:
            return
        for route, queue in (await self.declare(routes)).items():

            async def on_message(message: AbstractIncomingMessage, route: Route = route) -> None:
                task = asyncio.create_task(self._deliver(route, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

            tag = await queue.consume(on_message)
            self._consumers.append((queue, tag))

    async def _deliver(self, route: Route, message: AbstractIncomingMessage) -> None:
        body = message.body
        error: str | None = None
        attempt = 0
        while True:
            attempt += 1
            outcome, error = await self._post(route, body)
            if outcome == "SUCCESS":
                await message.ack()
                return
            if outcome == "GONE":
                log.warning("sidecar.dropped_route_gone", route=route.path)
                await message.ack()
                return
            if outcome == "RETRY" and self._closing.is_set():
                return  # unacked: back to the queue when the connection closes
            if outcome == "DROP" or attempt >= route.max_attempts:
                reason = "drop" if outcome == "DROP" else "max_attempts"
                await self._dead_letter(route, body, attempt, reason, error)
                await message.ack()
                return
            backoff = min(self.retry_max_s, self.retry_base_s * 2 ** (attempt - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), backoff)
            if self._closing.is_set():
                return  # stopping: leave it unacked for the next consumer

    async def _post(self, route: Route, body: bytes) -> tuple[str, str | None]:
        """Deliver once; returns (SUCCESS | RETRY | DROP | GONE, error text)."""
        assert self._http is not None and self.app_base_url is not None
        headers = {**self.app_headers, "content-type": CLOUDEVENTS_JSON}
        with contextlib.suppress(Exception):
            traceparent = orjson.loads(body).get("traceparent")
            if traceparent:
                headers["traceparent"] = traceparent
        try:
            async with self._http.post(
                self.app_base_url + route.path,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.delivery_timeout_s),
            ) as response:
                text = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return "RETRY", f"app unreachable: {exc!r}"
        answer, message = _parse_answer(text)
        if status == 404:
            return "GONE", f"app answered 404: {message}"
        if not 200 <= status < 300:
            return "RETRY", message or f"app answered {status}"
        if answer in {"SUCCESS", "RETRY", "DROP"}:
            return answer, message or f"handler answered {answer}"
        if answer is None:
            return "SUCCESS", None  # 2xx without a status: Dapr counts it as success
        return "RETRY", f"unknown status {answer!r}"

    async def _dead_letter(
        self, route: Route, body: bytes, attempts: int, reason: str, error: str | None
    ) -> None:
        self.dead_letters.append(DeadLetterRecord(route, body, attempts, reason, error))
        log.warning("sidecar.dead_lettered", route=route.label, reason=reason, attempts=attempts)
        if route.dead_letter_topic and route.dead_letter_topic != route.topic:
            await self.publish(route.pubsub, route.dead_letter_topic, body)

    # ------------------------------------------------------------------------- shutdown

    async def stop(self, *, graceful: bool = True) -> None:
        """Graceful: stop consuming, let deliveries in flight finish (and ack), close.
        Either way a delivery waiting to be retried is left unacked. Not graceful: drop the
        connection at once; unacked messages return to the queue."""
        self._closing.set()
        if graceful:
            for queue, tag in self._consumers:
                with contextlib.suppress(Exception):
                    await queue.cancel(tag)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        else:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._consumers.clear()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
        if self._http is not None:
            await self._http.close()
            self._http = None


def _parse_answer(text: bytes) -> tuple[str | None, str | None]:
    try:
        body: Any = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None, text[:500].decode("utf-8", "replace")
    if not isinstance(body, dict):
        return None, None
    status = body.get("status")
    message = body.get("message") or body.get("detail")
    return (status.upper() if isinstance(status, str) else None), (
        str(message) if message is not None else None
    )


async def delete_broker_objects(amqp_url: str, queues: set[str], exchanges: set[str]) -> None:
    """Remove what a test run declared (queues first, then their exchanges)."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        for name in sorted(queues):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()
        for name in sorted(exchanges):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()
