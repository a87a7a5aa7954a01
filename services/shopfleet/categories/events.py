"""The topics categories consumes: catalog's product events feed the products projection.

Each handler runs inside `idempotent_handler`: the inbox row and the projection's change
commit together, so a redelivered event (same id) changes nothing; the version check in
`projection` handles a different event that is older than what we hold.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.categories import projection
from shopfleet.kit.blocks.ports import CloudEvent, Subscription
from shopfleet.kit.contracts.events import (
    PRODUCT_DELETED,
    PRODUCT_UPDATED,
    EventPayload,
    ProductDeleted,
    ProductUpdated,
)
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler

CONSUMER = "categories"


P = TypeVar("P", bound=EventPayload)


def _payload(model: type[P], event: CloudEvent) -> P:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentEventError(
            f"{event.topic} payload does not fit its contract: {exc}"
        ) from None


async def on_product_updated(session: AsyncSession, event: CloudEvent) -> None:
    try:
        await projection.apply_product_updated(session, event.shop, _payload(ProductUpdated, event))
    except projection.BadProductEvent as exc:
        raise PermanentEventError(str(exc)) from None


async def on_product_deleted(session: AsyncSession, event: CloudEvent) -> None:
    try:
        await projection.apply_product_deleted(session, event.shop, _payload(ProductDeleted, event))
    except projection.BadProductEvent as exc:
        raise PermanentEventError(str(exc)) from None


HANDLERS = {PRODUCT_UPDATED: on_product_updated, PRODUCT_DELETED: on_product_deleted}


def subscriptions(db: Database) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    return [
        Subscription(topic, consumer=CONSUMER, handler=idempotent_handler(db, CONSUMER, fn))
        for topic, fn in HANDLERS.items()
    ]
