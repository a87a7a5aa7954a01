"""Every topic and its payload. A topic has one owner: only that service publishes it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ----------------------------------------------------------------------------- identity

USER_REGISTERED = "user.registered"  # owner: identity
SHOP_CREATED = "shop.created"  # owner: identity (tenant bootstrap)


class UserRegistered(EventPayload):
    user_id: str
    email: str
    display_name: str
    roles: list[str]
    registered_at: datetime


class ShopCreated(EventPayload):
    shop: str
    display_name: str
    currency: str
    created_at: datetime


TOPICS: dict[str, type[EventPayload]] = {
    USER_REGISTERED: UserRegistered,
    SHOP_CREATED: ShopCreated,
}
