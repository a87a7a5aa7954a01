"""Pub/sub configured from Dapr resources: a `pubsub.rabbitmq` component (its metadata read
as the component reads it) and a declarative `Subscription` (v2alpha1) scoped to the app."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import orjson
from dapr.proto import api_service_v1, api_v1
from fastapi import FastAPI, Request

from shopfleet.devtools.sidecar_double.resources import Resources, add_document
from tests.support.sidecar_double import AMQP_URL, AppServer, DoubleRun


def _resources(consumer: str) -> Resources:
    resources = Resources()
    add_document(
        resources,
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "pubsub"},
            "spec": {
                "type": "pubsub.rabbitmq",
                "version": "v1",
                "metadata": [
                    {"name": "connectionString", "value": AMQP_URL},
                    {"name": "durable", "value": "true"},
                    {"name": "deletedWhenUnused", "value": "false"},
                    {"name": "deliveryMode", "value": "2"},
                    {"name": "publisherConfirm", "value": "true"},
                    {"name": "prefetchCount", "value": "5"},
                    {"name": "consumerID", "value": consumer},
                ],
            },
        },
    )
    for app_id, route in (("notifications", "/events/orders"), ("someone-else", "/nope")):
        add_document(
            resources,
            {
                "apiVersion": "dapr.io/v2alpha1",
                "kind": "Subscription",
                "metadata": {"name": f"orders-{app_id}"},
                "spec": {"pubsubname": "pubsub", "topic": "orders", "routes": {"default": route}},
                "scopes": [app_id],
            },
        )
    return resources


async def test_a_declared_subscription_delivers_through_the_components_queue(
    double_run: DoubleRun,
) -> None:
    got: asyncio.Queue[dict] = asyncio.Queue()
    app = FastAPI()

    @app.post("/events/orders")
    async def on_order(request: Request) -> dict[str, str]:
        await got.put(orjson.loads(await request.body()))
        return {"status": "SUCCESS"}

    server = await AppServer(app).start()
    consumer = f"notif-{uuid.uuid4().hex[:6]}"
    try:
        double = await double_run.start(
            "notifications", app_port=server.port, resources=_resources(consumer)
        )
        await double.wait_app_ready(10)
        [route] = double.brokers["pubsub"].routes
        assert (route.path, route.consumer) == ("/events/orders", consumer)  # the component's
        assert double.component_types == {"pubsub": ("pubsub.rabbitmq", "v1")}
        async with grpc.aio.insecure_channel(double.grpc_address) as channel:
            await api_service_v1.DaprStub(channel).PublishEvent(
                api_v1.PublishEventRequest(
                    pubsub_name="pubsub",
                    topic="orders",
                    data=b'{"order": 1}',
                    data_content_type="application/json",
                )
            )
        event = await asyncio.wait_for(got.get(), 10)
        assert event["data"] == {"order": 1} and event["topic"] == "orders"
    finally:
        await server.stop()


def _namespaced_resources(app_id: str, route: str, consumer: str | None) -> Resources:
    """The platform's component (no consumerID: daprd's default, the app-id) or a dedicated
    shop's (`{namespace}`), and the app's subscription to `order.paid`."""
    metadata = [
        {"name": "connectionString", "value": AMQP_URL},
        {"name": "durable", "value": "true"},
        {"name": "deletedWhenUnused", "value": "false"},
        {"name": "clientName", "value": "{podName}"},
    ]
    if consumer is not None:
        metadata.append({"name": "consumerID", "value": consumer})
    resources = Resources()
    add_document(
        resources,
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "pubsub"},
            "spec": {"type": "pubsub.rabbitmq", "version": "v1", "metadata": metadata},
        },
    )
    add_document(
        resources,
        {
            "apiVersion": "dapr.io/v2alpha1",
            "kind": "Subscription",
            "metadata": {"name": f"paid-{app_id}"},
            "spec": {
                "pubsubname": "pubsub",
                "topic": "order.paid",
                "routes": {"default": route},
                "metadata": {"consumerID": app_id},
            },
            "scopes": [app_id],
        },
    )
    return resources


async def test_a_namespace_consumer_id_gives_a_tenant_queues_and_topics_of_its_own(
    double_run: DoubleRun,
) -> None:
    """daprd: `{namespace}` is `<namespace>.<app-id>`, and a component whose metadata holds
    it scopes its topics to the namespace: the same app-id in two namespaces neither shares
    a queue (the declaration of a queue with other flags would fail) nor sees the other's
    events. A subscription's own `consumerID` is not what names the queue."""
    got: dict[str, asyncio.Queue[dict]] = {"pooled": asyncio.Queue(), "tenant": asyncio.Queue()}
    app = FastAPI()

    @app.post("/paid/{who}")
    async def on_paid(who: str, request: Request) -> dict[str, str]:
        await got[who].put(orjson.loads(await request.body()))
        return {"status": "SUCCESS"}

    server = await AppServer(app).start()
    try:
        pooled = await double_run.start(
            "shipping",
            app_port=server.port,
            namespace="shopfleet",
            resources=_namespaced_resources("shipping", "/paid/pooled", None),
            environ={"POD_NAME": "shipping-1"},
        )
        tenant = await double_run.start(
            "shipping",
            app_port=server.port,
            namespace="shop-acme",
            resources=_namespaced_resources("shipping", "/paid/tenant", "{namespace}"),
            environ={"POD_NAME": "shipping-2"},
        )
        for double in (pooled, tenant):
            await double.wait_app_ready(10)
        [pooled_route] = pooled.brokers["pubsub"].routes
        [tenant_route] = tenant.brokers["pubsub"].routes
        prefix = double_run.prefix
        assert pooled.brokers["pubsub"].queue_name(pooled_route) == f"{prefix}shipping-order.paid"
        assert (
            tenant.brokers["pubsub"].queue_name(tenant_route)
            == f"{prefix}shop-acme.shipping-shop-acmeorder.paid"
        )
        for double, body in ((pooled, b'{"who": "pooled"}'), (tenant, b'{"who": "tenant"}')):
            async with grpc.aio.insecure_channel(double.grpc_address) as channel:
                await api_service_v1.DaprStub(channel).PublishEvent(
                    api_v1.PublishEventRequest(
                        pubsub_name="pubsub",
                        topic="order.paid",
                        data=body,
                        data_content_type="application/json",
                    )
                )
        for who in ("pooled", "tenant"):
            event = await asyncio.wait_for(got[who].get(), 10)
            assert event["data"] == {"who": who} and event["topic"] == "order.paid"
        await asyncio.sleep(0.5)
        assert got["pooled"].empty() and got["tenant"].empty()  # nothing crossed over
    finally:
        await server.stop()


async def test_pod_name_in_metadata_needs_the_pods_name(double_run: DoubleRun) -> None:
    """daprd exits when a component's metadata says `{podName}` and it has no POD_NAME."""
    import pytest

    from shopfleet.devtools.sidecar_double.errors import ComponentLoadError

    with pytest.raises(ComponentLoadError, match="podName is not set"):
        await double_run.start(
            "shipping",
            namespace="shopfleet",
            environ={},
            resources=_namespaced_resources("shipping", "/paid", None),
        )
