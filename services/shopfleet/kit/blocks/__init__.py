"""Building blocks: the ports (`ports`) and their adapters: `local` (in-process, the embedded
platform) and `dapr` (through the app's Dapr sidecar)."""

from shopfleet.kit.blocks.ports import (
    JSON,
    Blocks,
    CloudEvent,
    Delivery,
    ETagMismatch,
    EventHandler,
    Invoker,
    InvokeResponse,
    PubSub,
    Secrets,
    ServiceUnavailable,
    StateItem,
    StateOp,
    StateStore,
    StateStoreUnavailable,
    Subscription,
    new_event_id,
)

__all__ = [
    "JSON",
    "Blocks",
    "CloudEvent",
    "Delivery",
    "ETagMismatch",
    "EventHandler",
    "InvokeResponse",
    "Invoker",
    "PubSub",
    "Secrets",
    "ServiceUnavailable",
    "StateItem",
    "StateOp",
    "StateStore",
    "StateStoreUnavailable",
    "Subscription",
    "new_event_id",
]
