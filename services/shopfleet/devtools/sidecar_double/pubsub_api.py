"""The pub/sub building block's gRPC API: PublishEvent, the CloudEvent put on the broker
built as daprd builds it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import grpc
import orjson
from google.protobuf.empty_pb2 import Empty

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble


class PubSubApi:
    """The pub/sub RPC of `DaprApi` (grpc_api.py)."""

    d: SidecarDouble

    async def PublishEvent(self, request, context):
        if request.pubsub_name not in self.d.brokers:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"pubsub {request.pubsub_name} not found"
            )
        if not request.topic:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "topic is empty")
        envelope = cloud_event(self.d.config.app_id, request)
        if isinstance(envelope, str):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, envelope)
        broker = self.d.brokers[request.pubsub_name]
        await broker.publish(request.pubsub_name, request.topic, orjson.dumps(envelope))
        return Empty()


def cloud_event(app_id: str, request: Any) -> dict[str, Any] | str:
    """The CloudEvent to put on the broker, as daprd builds it (or an error text)."""
    content_type = request.data_content_type or "application/json"
    meta = dict(request.metadata)
    if content_type.startswith("application/cloudevents+json"):
        try:
            event = orjson.loads(request.data)
        except orjson.JSONDecodeError as exc:
            return f"error when publishing to topic {request.topic}: not a CloudEvent: {exc}"
        if not isinstance(event, dict) or not all(
            event.get(k) for k in ("id", "source", "specversion", "type")
        ):
            return "a CloudEvent needs id, source, specversion and type"
    else:
        try:
            data: Any = orjson.loads(request.data) if "json" in content_type else None
        except orjson.JSONDecodeError:
            data = None
        if data is None:
            data = request.data.decode("utf-8", "replace")
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": app_id,
            "type": "com.dapr.event.sent",
            "datacontenttype": content_type,
            "data": data,
        }
        for attribute in ("id", "source", "type", "subject", "time"):
            if f"cloudevent.{attribute}" in meta:
                event[attribute] = meta[f"cloudevent.{attribute}"]
    event["topic"] = request.topic  # daprd always sets these two
    event["pubsubname"] = request.pubsub_name
    return event
