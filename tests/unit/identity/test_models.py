"""Pure pieces of the API's schemas: cursors, roles, emails."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopfleet.identity.models import RolesUpdate, UserCreate


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
