"""Opaque pagination cursors: a JSON list of the last row's sort key and id, base64url.

Services decide what goes in and check what comes out; this is only the wrapping.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson


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
