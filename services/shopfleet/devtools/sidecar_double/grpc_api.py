"""The gRPC `dapr.proto.runtime.v1.Dapr` service: exactly the RPCs the Dapr adapters (and
the SDK at start-up) use, one building block per module (state_api, pubsub_api,
secrets_api), and GetMetadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dapr.proto import api_service_v1, api_v1

from shopfleet.devtools.sidecar_double.config import RUNTIME_VERSION
from shopfleet.devtools.sidecar_double.pubsub_api import PubSubApi
from shopfleet.devtools.sidecar_double.secrets_api import SecretsApi
from shopfleet.devtools.sidecar_double.state_api import StateApi

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble


class DaprApi(StateApi, PubSubApi, SecretsApi, api_service_v1.DaprServicer):
    def __init__(self, double: SidecarDouble) -> None:
        self.d = double

    async def GetMetadata(self, request, context):
        return api_v1.GetMetadataResponse(**metadata(self.d))


def metadata(double: SidecarDouble) -> dict[str, Any]:
    config = double.config
    components = [
        api_v1.RegisteredComponents(name=name, type=type_, version=version)
        for name, (type_, version) in double.component_types.items()
    ]
    subscriptions = [
        api_v1.PubsubSubscription(
            pubsub_name=route.pubsub,
            topic=route.topic,
            dead_letter_topic=route.dead_letter_topic or "",
            metadata={"consumerID": route.consumer},
        )
        for broker in double.unique_brokers()
        for route in broker.routes
    ]
    return {
        "id": config.app_id,
        "runtime_version": RUNTIME_VERSION,
        "registered_components": components,
        "subscriptions": subscriptions,
    }
