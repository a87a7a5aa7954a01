"""A typed topic: its wire name, the model of its payload and the one service that publishes it.

`Topic` is a `str` (its wire name), so a topic works wherever a topic name did: pub/sub
subscriptions, `CloudEvent.topic`, dict keys, comparisons with the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


P = TypeVar("P", bound=EventPayload)


class Topic(str, Generic[P]):
    """`Topic("order.paid", OrderPaid, owner="orders")`: only `orders` publishes it, and
    always an `OrderPaid`."""

    model: type[P]
    owner: str

    def __new__(cls, name: str, model: type[P], *, owner: str) -> Topic[P]:
        topic = super().__new__(cls, name)
        topic.model = model
        topic.owner = owner
        return topic

    @property
    def name(self) -> str:
        """The wire name as a plain `str`."""
        return str.__str__(self)


class ForeignTopicError(Exception):
    """A service published a topic that another service owns."""


def topic_registry(*topics: Topic[Any]) -> Mapping[str, Topic[Any]]:
    """Topics by wire name; a name given twice is a mistake in the contracts."""
    registry: dict[str, Topic[Any]] = {}
    for topic in topics:
        if topic in registry:
            raise ValueError(f"topic {topic.name!r} is declared twice")
        registry[topic.name] = topic
    return registry
