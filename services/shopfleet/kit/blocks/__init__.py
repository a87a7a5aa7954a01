"""Building blocks: the ports (`ports`) and their adapters (`local`, later `dapr`)."""

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
    "Subscription",
    "new_event_id",
]
