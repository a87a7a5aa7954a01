"""Pub/sub the Dapr way: service apps declare subscriptions, the sidecar delivers to them.

Each app here is built by `kit.service.service_app` with `dapr_blocks(...)`, served by
uvicorn, and paired with its own sidecar double on the machine's RabbitMQ.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from shopfleet.devtools.sidecar_double import SidecarDouble
from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery, Subscription, new_event_id
from shopfleet.kit.blocks.dapr import close_dapr_blocks, dapr_blocks
from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.service import service_app
from shopfleet.kit.settings import PlatformSettings
from tests.support.http import LocalBlocks
from tests.support.server import free_port
from tests.support.sidecar_double import AppServer, DoubleRun

from .conftest import sidecar_of


@dataclass
class Service:
    blocks: Blocks
    double: SidecarDouble
    server: AppServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


Launch = Callable[..., Awaitable[Service]]


class Recorder:
    def __init__(self, *script: Delivery | Exception, then: Delivery = Delivery.SUCCESS) -> None:
        self.script, self.then = list(script), then
        self.events: list[CloudEvent] = []

    async def __call__(self, event: CloudEvent) -> Delivery:
        self.events.append(event)
        answer = self.script.pop(0) if self.script else self.then
        if isinstance(answer, Exception):
            raise answer
        return answer


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.01)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def order_placed(topic: str, **extra: object) -> CloudEvent:
    data = {"order_id": "o-1", "total": {"amount": 2599, "currency": "EUR"}}
    return CloudEvent(id=new_event_id(), topic=topic, data=data, shop="acme", **extra)  # type: ignore[arg-type]


@pytest.fixture
async def launch(double_run: DoubleRun, serve: Callable) -> AsyncIterator[Launch]:
    """`await launch(app_id, subscriptions)`: a service app and its sidecar, both running."""
    launched: list[Blocks] = []

    async def start(app_id: str, subscriptions: Sequence[Subscription] = ()) -> Service:
        grpc_port, http_port = free_port(), free_port()
        platform = PlatformSettings()
        blocks = dapr_blocks(platform, app_id=app_id, grpc_port=grpc_port, http_port=http_port)
        launched.append(blocks)
        for subscription in subscriptions:
            blocks.pubsub.subscribe(subscription)
        app = service_app(
            app_id,
            description=f"{app_id} under test",
            db=None,
            blocks=blocks,
            platform=platform,
            routers=[],
        )
        server = await serve(app)
        double = await double_run.start(
            app_id, app_port=server.port, grpc_port=grpc_port, http_port=http_port
        )
        await double.wait_app_ready(10)
        return Service(blocks, double, server)

    yield start
    for blocks in launched:
        await close_dapr_blocks(blocks)


async def test_app_tells_its_sidecar_every_subscription_with_route_and_dead_letter_topic(
    launch: Launch,
) -> None:
    topic = unique("order.placed")
    shipping = await launch(
        "shipping",
        [Subscription(topic, "shipping", Recorder(), max_attempts=4, dead_letter_topic="dlq")],
    )

    async with httpx.AsyncClient(base_url=shipping.url) as http:
        listed = (await http.get("/dapr/subscribe")).json()

    assert listed == [
        {
            "pubsubname": "pubsub",
            "topic": topic,
            "route": f"/dapr/events/shipping/{topic}",
            "deadLetterTopic": "dlq",
            "metadata": {"consumerID": "shipping", "maxDeliveryAttempts": "4"},
        }
    ]
    # The sidecar read it: its metadata API lists the subscription, the SDK sees the app.
    async with httpx.AsyncClient(base_url=shipping.double.http_url) as http:
        metadata = (await http.get("/v1.0/metadata")).json()
    assert [(s["topic"], s["deadLetterTopic"]) for s in metadata["subscriptions"]] == [
        (topic, "dlq")
    ]
    client = await sidecar_of(shipping.double).client()
    sdk_view = await client.get_metadata()
    assert sdk_view.application_id == "shipping"
    assert {c.type for c in sdk_view.registered_components} >= {"state.redis", "pubsub.rabbitmq"}
    await client.close()


async def test_event_keeps_id_shop_type_source_and_trace_from_publisher_to_consumer(
    launch: Launch,
) -> None:
    topic, handler = unique("order.placed"), Recorder()
    await launch("notifications", [Subscription(topic, "notifications", handler)])
    orders = await launch("orders")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event = order_placed(topic, source="orders", type="order.placed.v1", traceparent=traceparent)

    await orders.blocks.pubsub.publish(event)

    await wait_until(lambda: len(handler.events) == 1)
    got = handler.events[0]
    assert (got.id, got.topic, got.shop, got.data) == (event.id, topic, "acme", event.data)
    assert (got.source, got.type, got.time) == ("orders", "order.placed.v1", event.time)
    assert got.traceparent == traceparent


async def test_retry_answer_is_delivered_again_until_success(launch: Launch) -> None:
    topic = unique("payment.succeeded")
    handler = Recorder(Delivery.RETRY, RuntimeError("database is restarting"))
    shipping = await launch("shipping", [Subscription(topic, "shipping", handler)])
    event = order_placed(topic)

    await shipping.blocks.pubsub.publish(event)

    await wait_until(lambda: len(handler.events) == 3)
    await asyncio.sleep(0.3)  # longer than the double's back-off: no fourth delivery
    assert [e.id for e in handler.events] == [event.id] * 3
    assert shipping.double.dead_letters == []


async def test_drop_sends_the_event_to_the_dead_letter_topic_at_once(launch: Launch) -> None:
    topic, dead_topic = unique("order.placed"), unique("deadletter")
    dropping, dead = Recorder(then=Delivery.DROP), Recorder()
    payments = await launch(
        "payments", [Subscription(topic, "payments", dropping, dead_letter_topic=dead_topic)]
    )
    await launch("ops", [Subscription(dead_topic, "ops", dead)])
    event = order_placed(topic)

    await payments.blocks.pubsub.publish(event)

    await wait_until(lambda: len(dead.events) == 1)
    got = dead.events[0]
    assert (got.id, got.topic, got.shop, got.data) == (event.id, topic, "acme", event.data)
    assert len(dropping.events) == 1
    [record] = payments.double.dead_letters
    assert (record.reason, record.attempts, record.route.consumer) == ("drop", 1, "payments")


async def test_failing_every_attempt_dead_letters_after_the_subscriptions_budget(
    launch: Launch,
) -> None:
    topic, dead_topic = unique("order.placed"), unique("deadletter")
    failing, dead = Recorder(then=ValueError("no such currency: XXX")), Recorder()
    payments = await launch(
        "payments",
        [Subscription(topic, "payments", failing, max_attempts=2, dead_letter_topic=dead_topic)],
    )
    await launch("ops", [Subscription(dead_topic, "ops", dead)])

    await payments.blocks.pubsub.publish(order_placed(topic))

    await wait_until(lambda: len(dead.events) == 1)
    assert len(failing.events) == 2
    [record] = payments.double.dead_letters
    assert (record.reason, record.attempts) == ("max_attempts", 2)
    assert record.error is not None and "ValueError: no such currency: XXX" in record.error


async def test_route_answers_as_dapr_expects(launch: Launch) -> None:
    topic = unique("order.placed")
    handler = Recorder(RuntimeError("boom"), Delivery.DROP)
    shipping = await launch("shipping", [Subscription(topic, "shipping", handler)])
    body = order_placed(topic).to_json()
    headers = {"content-type": "application/cloudevents+json"}

    async with httpx.AsyncClient(base_url=shipping.url) as http:
        crashed = await http.post(f"/dapr/events/shipping/{topic}", content=body, headers=headers)
        dropped = await http.post(f"/dapr/events/shipping/{topic}", content=body, headers=headers)
        unknown = await http.post(f"/dapr/events/billing/{topic}", content=body, headers=headers)
        garbage = await http.post(f"/dapr/events/shipping/{topic}", content=b"{", headers=headers)

    assert (crashed.status_code, crashed.json()["status"]) == (500, "RETRY")
    assert "RuntimeError: boom" in crashed.json()["message"]
    assert (dropped.status_code, dropped.json()["status"]) == (200, "DROP")
    assert unknown.status_code == 404  # Dapr drops events for a route the app no longer has
    assert (garbage.status_code, garbage.json()["status"]) == (200, "DROP")


async def test_durable_queue_keeps_events_while_the_consumers_sidecar_is_down(
    launch: Launch, double_run: DoubleRun
) -> None:
    topic, handler = unique("order.placed"), Recorder()
    shipping = await launch("shipping", [Subscription(topic, "shipping", handler)])
    orders = await launch("orders")
    await shipping.double.stop()  # its connection closes; the durable queue stays
    events = [order_placed(topic) for _ in range(3)]

    for event in events:
        await orders.blocks.pubsub.publish(event)
    await asyncio.sleep(0.2)
    assert handler.events == []

    restarted = await double_run.start("shipping", app_port=shipping.server.port)
    await restarted.wait_app_ready(10)
    await wait_until(lambda: len(handler.events) == 3)
    assert sorted(e.id for e in handler.events) == sorted(e.id for e in events)


async def test_delivery_cut_off_by_a_dying_sidecar_is_delivered_by_the_next(
    launch: Launch, double_run: DoubleRun
) -> None:
    topic, started, release = unique("order.placed"), asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def slow(event: CloudEvent) -> Delivery:
        seen.append(event.id)
        started.set()
        await release.wait()
        return Delivery.SUCCESS

    shipping = await launch("shipping", [Subscription(topic, "shipping", slow)])
    event = order_placed(topic)
    await shipping.blocks.pubsub.publish(event)
    await asyncio.wait_for(started.wait(), 10)

    await shipping.double.crash()  # connection to RabbitMQ closed with the delivery unacked
    release.set()
    restarted = await double_run.start("shipping", app_port=shipping.server.port)
    await restarted.wait_app_ready(10)

    await wait_until(lambda: len(seen) == 2)
    assert seen == [event.id, event.id]  # at least once: the inbox makes the second a no-op


async def test_sidecar_wraps_a_plain_payload_in_its_own_cloudevent(launch: Launch) -> None:
    topic, handler = unique("stock.changed"), Recorder()
    catalog = await launch("catalog", [Subscription(topic, "catalog", handler)])
    client = await sidecar_of(catalog.double).client()

    await client.publish_event(
        "pubsub", topic, orjson.dumps({"sku": "MUG"}), data_content_type="application/json"
    )

    await wait_until(lambda: len(handler.events) == 1)
    got = handler.events[0]
    assert (got.topic, got.data, got.source) == (topic, {"sku": "MUG"}, "catalog")
    assert got.shop == ""  # only our own envelope carries the shop
    await client.close()


async def test_app_on_local_blocks_has_no_sidecar_routes(tmp_path: Path) -> None:
    pubsub = LocalPubSub(tmp_path / "pubsub.db")
    async with LocalBlocks(tmp_path, pubsub) as blocks:
        app = service_app(
            "shipping",
            description="embedded",
            db=None,
            blocks=blocks,
            platform=PlatformSettings(),
            routers=[],
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shipping") as http:
            assert (await http.get("/dapr/subscribe")).status_code == 404
    await pubsub.stop()
