"""Who may read which notifications, and the list's cursors. Pure: refusals, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.refusals import ForbiddenRefusal, InvalidRefusal, NotFoundRefusal


class NotificationNotFound(NotFoundRefusal):
    """No such notification of the caller's (another user's is not found either)."""

    def __init__(self, shop: str, notification_id: str) -> None:
        super().__init__(f"No notification '{notification_id}' of yours in shop '{shop}'.")


class OthersNotificationsForbidden(ForbiddenRefusal):
    def __init__(self) -> None:
        super().__init__("Only a shop Admin may list another user's notifications.")


class BadCursor(InvalidRefusal):
    def __init__(self) -> None:
        super().__init__("query.cursor", "not a cursor of this listing; start again without it")


def whose(reader_id: str, *, is_admin: bool, asked: str | None) -> str:
    """The user whose notifications a list shows: the reader's own, or (admins only) the
    user `asked` for."""
    if asked is None or asked == reader_id:
        return reader_id
    if not is_admin:
        raise OthersNotificationsForbidden()
    return asked


@dataclass(frozen=True, slots=True)
class PageEnd:
    """Where a page (newest first) ended: the next one starts after it."""

    created_at: datetime
    notification_id: str


def encode_cursor(end: PageEnd) -> str:
    return pack_cursor([end.created_at.isoformat(), end.notification_id])


def decode_cursor(cursor: str) -> PageEnd:
    """The end of the page a cursor of ours names; `BadCursor` for anything else."""
    try:
        created, last_id = unpack_cursor(cursor)
        created_at = datetime.fromisoformat(created)
    except (ValueError, TypeError):
        raise BadCursor() from None
    if created_at.tzinfo is None or not isinstance(last_id, str):
        raise BadCursor()
    return PageEnd(created_at, last_id)
