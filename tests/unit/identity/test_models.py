"""Pure pieces of the API's schemas: cursors, roles, emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shopfleet.identity.models import RolesUpdate, UserCreate, decode_cursor, encode_cursor


def test_a_cursor_round_trips() -> None:
    stamp = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    user_id = "0b5e8a53-4f1c-4d3e-9a51-2f6f0c1d9e77"
    cursor = encode_cursor(stamp, user_id)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe as is
    assert decode_cursor(cursor) == (stamp, user_id)


def test_a_cursor_is_kept_in_utc() -> None:
    local = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stamp, _ = decode_cursor(encode_cursor(local, "0b5e8a53"))
    assert stamp == local and stamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm90IGEgY3Vyc29y",  # not a cursor
        "WzEsMl0",  # [1,2]
        "WyIyMDI1LTAxLTAxIiwgMV0",  # ["2025-01-01", 1]: naive time, id not a string
        encode_cursor(datetime(2025, 1, 1, tzinfo=UTC), "x\u0000"),  # the id is no UUID
    ],
)
def test_anything_else_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)


def test_roles_are_deduplicated_and_sorted() -> None:
    assert RolesUpdate(roles=["User", "Admin", "User"]).roles == ["Admin", "User"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [([], "at least 1"), (["PlatformAdmin"], "platform role"), (["Owner"], "unknown role")],
)
def test_only_shop_roles_may_be_granted(roles: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RolesUpdate(roles=roles)


def test_emails_are_normalized_to_lower_case() -> None:
    user = UserCreate(email="  Ann.B@Example.COM ", password="x" * 10, display_name="Ann")
    assert user.email == "ann.b@example.com"


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="roles"):
        UserCreate.model_validate(
            {
                "email": "a@example.com",
                "password": "x" * 10,
                "display_name": "A",
                "roles": ["Admin"],
            }
        )
