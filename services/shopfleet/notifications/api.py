"""Notifications' HTTP routes: thin wrappers that validate input and call `service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from shopfleet.kit.auth import SHOP_API_PREFIX, CurrentUser, OwnerOrAdmin, ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.db import ReaderDep, SessionDep
from shopfleet.notifications import service
from shopfleet.notifications.models import NotificationPublic, NotificationsPage

router = APIRouter(prefix=SHOP_API_PREFIX, tags=["notifications"])


@router.get("/notifications")
async def list_notifications(
    shop: ShopId,
    principal: OwnerOrAdmin,
    session: ReaderDep,
    unread: Annotated[
        bool | None,
        Query(description="true: only unread ones; false: only read ones; omitted: all."),
    ] = None,
    user: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description="Admins: list this user's notifications instead of their own.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Notifications per page.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="The `next_cursor` of the previous page.")
    ] = None,
) -> NotificationsPage:
    """Your notifications, newest first, with how many are unread; admins may pass `user`."""
    return await service.list_for(
        session,
        shop,
        principal.user_id,
        is_admin=principal.is_admin,
        user=user,
        unread=unread,
        limit=limit,
        cursor=cursor,
    )


@router.post("/notifications/{notification_id}/read")
async def mark_read(
    shop: ShopId,
    principal: CurrentUser,
    session: SessionDep,
    notification_id: Annotated[ids.NotificationId, Path(description="The notification.")],
) -> NotificationPublic:
    """Mark one of your notifications read (again: no change, `read_at` stays)."""
    return await service.mark_read(session, shop, principal.user_id, notification_id)
