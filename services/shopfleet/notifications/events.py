"""The topics notifications consumes: orders', payments' and shipping's events (each may
tell a shopper something), and identity's `user.registered` (where to reach them).

Each handler runs inside `idempotent_handler`: the inbox row, the notification and its
pending delivery commit together, so a redelivered event changes nothing; sending is the
delivery worker's job, woken once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks import CloudEvent, Subscription
from shopfleet.kit.contracts.events import USER_REGISTERED, UserRegistered
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler
from shopfleet.notifications import service
from shopfleet.notifications.messages import PAYLOADS, compose

CONSUMER = "notifications"


def subscriptions(
    db: Database, *, now: Callable[[], datetime], wake: Callable[[], None]
) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub. `now` stamps when a
    new delivery is due; `wake` tells the delivery worker that one was committed."""

    async def on_order_event(session: AsyncSession, event: CloudEvent) -> None:
        try:
            payload = PAYLOADS[event.topic].model_validate(event.data)
        except ValidationError as exc:
            raise PermanentEventError(f"{event.topic} payload does not fit: {exc}") from None
        draft = compose(payload)
        if draft is None:
            return  # nothing the shopper needs to hear
        if await service.record(session, event.shop, event.id, draft, due=now()):
            sa.event.listen(session.sync_session, "after_commit", lambda _: wake(), once=True)

    async def on_user_registered(session: AsyncSession, event: CloudEvent) -> None:
        try:
            user = UserRegistered.model_validate(event.data)
        except ValidationError as exc:
            raise PermanentEventError(f"{event.topic} payload does not fit: {exc}") from None
        await service.remember_user(session, event.shop, user)

    handlers = {topic: on_order_event for topic in PAYLOADS} | {USER_REGISTERED: on_user_registered}
    return [
        Subscription(topic, consumer=CONSUMER, handler=idempotent_handler(db, CONSUMER, fn))
        for topic, fn in handlers.items()
    ]
