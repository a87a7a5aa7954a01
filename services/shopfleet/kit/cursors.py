"""Opaque pagination cursors: a JSON list of the last row's sort key and id, base64url.

Services decide what goes in and check what comes out (catalog's and categories' sorted
listings pack their own keys); the newest-first listings of the other services share
`PageEnd`, and every listing refuses a cursor it did not issue with `BadCursor` (400).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shopfleet.kit.refusals import WrongFieldRefusal


def pack_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def unpack_cursor(cursor: str) -> list[Any]:
    """The values packed in `cursor`; ValueError for anything `pack_cursor` did not make."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:  # binascii.Error is a ValueError
        raise ValueError("not a cursor issued by this API") from exc
    if not isinstance(values, list):
        raise ValueError("not a cursor issued by this API")
    return values


class BadCursor(WrongFieldRefusal):
    """A `cursor` query parameter this API did not issue: one answer for every listing."""

    default_slug = "bad-cursor"

    def __init__(self) -> None:
        super().__init__(
            "query.cursor",
            "not a cursor of this listing: pass the next_cursor of the previous page "
            "unchanged, or omit it to start at the first page",
        )


@dataclass(frozen=True, slots=True)
class PageEnd:
    """Where a page of a newest-first listing ended: its last row's time and id. The next
    page starts after it; `cursor()` is what the page hands out as `next_cursor`."""

    at: datetime
    id: str

    def cursor(self) -> str:
        at = self.at.replace(tzinfo=UTC) if self.at.tzinfo is None else self.at  # stored as UTC
        return pack_cursor([at.astimezone(UTC).isoformat(), self.id])

    @classmethod
    def from_cursor(cls, cursor: str, id_pattern: str | None = None) -> PageEnd:
        """The page end `cursor()` packed; `BadCursor` for anything else (a naive time, an id
        that `id_pattern` does not match)."""
        try:
            stamp, last_id = unpack_cursor(cursor)
            at = datetime.fromisoformat(stamp)
            if at.tzinfo is None:
                raise ValueError("naive")
            at = at.astimezone(UTC)  # out of range once in UTC (year 9999, -12:00): refused
        except (ValueError, TypeError, OverflowError):
            raise BadCursor() from None
        if not isinstance(last_id, str):
            raise BadCursor()
        if id_pattern is not None and not re.fullmatch(id_pattern, last_id):
            raise BadCursor()
        return cls(at, last_id)
