"""Notifications' tables and the schemas of its API.

Tables: `notifications` (what a shopper is told: one per user and event, and one per user
and `dedupe_key`, i.e. per fact such as "order X was paid", whichever event told it
first), `notification_deliveries` (one per notification: how sending it went) and
`notification_users` (the projection of identity's `user.registered`: where to send).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.notifications.domain.messages import MAX_MESSAGE, MAX_TITLE, Kind
from shopfleet.notifications.domain.retries import MAX_ERROR, DeliveryStatus


def new_id() -> str:
    return str(uuid.uuid4())


# ----------------------------------------------------------------------------- tables


class NotificationsModel(SQLModel, registry=registry()):
    """Notifications' own metadata: services share one process in the embedded platform."""


class NotificationUser(NotificationsModel, table=True):
    """A shopper as identity announced them (`user.registered`): where to send."""

    __tablename__ = "notification_users"

    shop: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(primary_key=True, max_length=128)
    email: str = Field(max_length=320)
    display_name: str = Field(max_length=200)
    registered_at: datetime = Field(sa_type=UTCDateTime)


class Notification(NotificationsModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("shop", "user_id", "event_id", name="uq_notifications_event"),
        sa.UniqueConstraint("shop", "user_id", "dedupe_key", name="uq_notifications_dedupe"),
        sa.Index("ix_notifications_user_created", "shop", "user_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    user_id: str = Field(max_length=128)
    event_id: str = Field(max_length=255)  # the CloudEvent that told it
    dedupe_key: str = Field(max_length=255)  # the fact it tells, e.g. "order_paid:<order id>"
    kind: str = Field(max_length=40)
    title: str = Field(max_length=MAX_TITLE)
    message: str = Field(max_length=MAX_MESSAGE)
    order_id: str | None = Field(default=None, max_length=64)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotificationDelivery(NotificationsModel, table=True):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_deliveries_notification",
            ondelete="CASCADE",
        ),
        sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    notification_id: str = Field(primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=20)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=MAX_ERROR)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


TABLES = (NotificationUser, Notification, NotificationDelivery)

# ----------------------------------------------------------------------------- output


class DeliveryPublic(BaseModel):
    status: DeliveryStatus
    attempts: int = pydantic.Field(description="Sends tried so far.")
    delivered_at: datetime | None
    next_attempt_at: datetime | None = pydantic.Field(
        description="When the next attempt is due (pending only)."
    )
    last_error: str | None = pydantic.Field(
        default=None, description="Why the last attempt failed (shown to shop admins only)."
    )


class NotificationPublic(BaseModel):
    id: str
    user_id: str
    kind: Kind
    title: str
    message: str
    order_id: str | None
    read: bool
    read_at: datetime | None
    created_at: datetime
    delivery: DeliveryPublic | None


class NotificationsPage(BaseModel):
    items: list[NotificationPublic] = pydantic.Field(description="Newest first.")
    unread_count: int = pydantic.Field(description="Unread notifications of this user in all.")
    next_cursor: str | None = pydantic.Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
