"""Who may read which notifications. Pure: refusals, no HTTP."""

from __future__ import annotations

from shopfleet.kit.refusals import ForbiddenRefusal, NotFoundRefusal


class NotificationNotFound(NotFoundRefusal):
    """No such notification of the caller's (another user's is not found either)."""

    def __init__(self, shop: str, notification_id: str) -> None:
        super().__init__(f"No notification '{notification_id}' of yours in shop '{shop}'.")


class OthersNotificationsForbidden(ForbiddenRefusal):
    def __init__(self) -> None:
        super().__init__("Only a shop Admin may list another user's notifications.")


def whose(reader_id: str, *, is_admin: bool, asked: str | None) -> str:
    """The user whose notifications a list shows: the reader's own, or (admins only) the
    user `asked` for."""
    if asked is None or asked == reader_id:
        return reader_id
    if not is_admin:
        raise OthersNotificationsForbidden()
    return asked
