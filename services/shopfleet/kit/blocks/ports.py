"""The building-block ports every service uses for state, messaging, calls and secrets.

Services depend on these abstract classes only. Two families of adapters implement them:
`kit.blocks.local` (in-process, SQLite-backed: the embedded platform and fast tests) and
`kit.blocks.dapr` (the Dapr sidecar: production and cluster). Both pass one contract suite.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import orjson

JSON = Any  # a value orjson can serialize: dict, list, str, int, float, bool, None


# ----------------------------------------------------------------------------- state


class ETagMismatch(Exception):
    """A write with an ETag found the stored item changed (or gone): first write won."""


class StateStoreUnavailable(ConnectionError):
    """The state store could not be reached; a write that failed so may have been applied."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(f"state store at {url} is unavailable: {cause}")
        self.url = url


@dataclass(frozen=True, slots=True)
class StateItem:
    key: str
    value: JSON
    etag: str


@dataclass(frozen=True, slots=True)
class StateOp:
    """One operation of a state transaction: an upsert (value given) or a delete (value None)."""

    key: str
    value: JSON = None
    delete: bool = False
    etag: str | None = None
    ttl_s: int | None = None

    @classmethod
    def upsert(
        cls, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> StateOp:
        return cls(key=key, value=value, etag=etag, ttl_s=ttl_s)

    @classmethod
    def remove(cls, key: str, *, etag: str | None = None) -> StateOp:
        return cls(key=key, delete=True, etag=etag)


class StateStore(ABC):
    """Key/value state with optimistic concurrency.

    Keys are namespaced by the caller (e.g. `cart:<shop>:<user>`). Writing with `etag`
    succeeds only if the stored ETag still matches (first-write-wins) and raises
    `ETagMismatch` otherwise; writing without one always succeeds (last-write-wins).
    `ttl_s` makes an item expire: after it, reads behave as if it was never written.
    """

    @abstractmethod
    async def get(self, key: str) -> StateItem | None: ...

    @abstractmethod
    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        """The items that exist, by key; missing or expired keys are absent."""

    @abstractmethod
    async def save(
        self, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        """Store `value`; returns the new ETag."""

    @abstractmethod
    async def delete(self, key: str, *, etag: str | None = None) -> None:
        """Delete `key` (no error if absent, unless an ETag was given)."""

    @abstractmethod
    async def transact(self, ops: Sequence[StateOp]) -> None:
        """Apply every op or none; any ETag mismatch raises `ETagMismatch` and changes nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# ----------------------------------------------------------------------------- pub/sub


class Delivery(StrEnum):
    """A subscriber's answer to one delivery, as in Dapr."""

    SUCCESS = "SUCCESS"  # processed; do not deliver again
    RETRY = "RETRY"  # failed for now; deliver again later (dead-letter after the last attempt)
    DROP = "DROP"  # can never be processed; send to the dead-letter topic now


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A CloudEvents 1.0 envelope with our extension attribute `shop`."""

    id: str
    topic: str
    data: JSON
    shop: str
    source: str = "shopfleet"
    type: str = ""
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    traceparent: str | None = None
    specversion: str = "1.0"
    datacontenttype: str = "application/json"

    def to_json(self) -> bytes:
        body = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type or self.topic,
            "topic": self.topic,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
            "shop": self.shop,
            "data": self.data,
        }
        if self.traceparent:
            body["traceparent"] = self.traceparent
        return orjson.dumps(body)

    @classmethod
    def from_json(cls, raw: bytes | str | Mapping[str, Any]) -> CloudEvent:
        body = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
        return cls(
            id=body["id"],
            topic=body.get("topic") or body.get("type", ""),
            data=body.get("data"),
            shop=body.get("shop", ""),
            source=body.get("source", "shopfleet"),
            type=body.get("type", ""),
            time=body.get("time") or datetime.now(UTC).isoformat(),
            traceparent=body.get("traceparent"),
        )


def new_event_id() -> str:
    return str(uuid.uuid4())


EventHandler = Callable[[CloudEvent], Awaitable[Delivery]]


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    consumer: str  # the subscribing app-id: each consumer gets its own durable queue
    handler: EventHandler
    max_attempts: int = 5
    dead_letter_topic: str = "deadletter"


class PubSub(ABC):
    """At-least-once publish/subscribe of CloudEvents.

    Declare subscriptions with `subscribe` before `start`. A handler answers a `Delivery`;
    raising counts as RETRY. After `max_attempts` failed deliveries, or at once on DROP,
    the event goes to the subscription's dead-letter topic. Handlers must be idempotent
    (see `kit.inbox.Inbox`): the same event can arrive more than once.
    """

    @abstractmethod
    async def publish(self, event: CloudEvent) -> None: ...

    # Whether `publish_batch` publishes all of its events or none: the outbox relay then
    # hands over each round's rows at once; otherwise it publishes them one by one.
    atomic_batches: ClassVar[bool] = False

    async def publish_batch(self, events: Sequence[CloudEvent]) -> None:
        """Publish `events` in their order (here one by one: a failure may leave the first
        ones published; an adapter with `atomic_batches` publishes all or none)."""
        for event in events:
            await self.publish(event)

    @abstractmethod
    def subscribe(self, subscription: Subscription) -> None: ...

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Begin delivering to the declared subscriptions."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop delivering; in-flight handlers finish first."""


# ----------------------------------------------------------------------------- invocation


class ServiceUnavailable(Exception):
    """The target app did not answer (unknown, down, or timed out)."""

    def __init__(self, app_id: str, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{app_id}: {reason}")
        self.app_id = app_id
        self.reason = reason
        self.timed_out = timed_out


Headers = Sequence[tuple[bytes, bytes]]


@dataclass(slots=True)
class InvokeResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> JSON:
        return orjson.loads(self.body)

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


class Invoker(ABC):
    """Call another app by app-id with HTTP semantics.

    `path` is the app's own path, percent-encoded, canonical (`kit.paths`: no dot segments,
    no encoded separators) and sent exactly as given: an adapter never joins or cleans it,
    and refuses a path that is not canonical with `ValueError`. `query` is the raw query
    string. Raises `ServiceUnavailable` when the app cannot be reached or exceeds `timeout_s`.
    """

    @abstractmethod
    async def invoke(
        self,
        app_id: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Headers = (),
        query: str = "",
        timeout_s: float | None = None,
    ) -> InvokeResponse: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# ----------------------------------------------------------------------------- secrets


class Secrets(ABC):
    """Per-shop secrets (Stripe keys, webhook secrets). `None` when a secret is not set."""

    @abstractmethod
    async def get(self, shop: str, name: str) -> str | None: ...


# ----------------------------------------------------------------------------- all four


@dataclass(slots=True)
class Blocks:
    """The four ports one service (or the whole embedded platform) is given."""

    state: StateStore
    pubsub: PubSub
    invoker: Invoker
    secrets: Secrets
