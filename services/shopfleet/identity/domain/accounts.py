"""Accounts' rules: emails, grantable roles, the shop's last Admin, changing a password."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

from shopfleet.identity.domain.refusals import CurrentPasswordRequired, LastAdmin
from shopfleet.kit.auth import Role

T = TypeVar("T")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_user_roles(roles: Collection[str]) -> list[str]:
    """The roles of a new account (any known roles: the CLI may grant PlatformAdmin);
    ValueError when they are none or include an unknown one."""
    if not roles or set(roles) - set(Role):
        raise ValueError(f"roles must be a non-empty subset of {[r.value for r in Role]}")
    return sorted(set(roles))


def roles_after_set(current: Collection[str], requested: Collection[str]) -> list[str]:
    """A shop's replacement of a user's roles: PlatformAdmin is not a shop's to grant or
    take, so a user who has it keeps it."""
    kept = {Role.PLATFORM_ADMIN.value} & set(current)
    return sorted(set(requested) | kept)


def loses_admin(current: Collection[str], new: Collection[str]) -> bool:
    return Role.ADMIN in current and Role.ADMIN not in new


def check_admins_left(current: Collection[str], new: Collection[str], other_admins: int) -> None:
    """Refuse to take the role from the shop's last Admin (`other_admins`: the rest)."""
    if loses_admin(current, new) and other_admins <= 0:
        raise LastAdmin()


def check_password_change(new_password: str | None, current_password: str | None) -> bool:
    """Whether the change sets a new password; one needs the current password with it."""
    if new_password is None:
        return False
    if not current_password:
        raise CurrentPasswordRequired()
    return True


def page_of(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """A page from `limit + 1` rows read: its items, and whether more follow."""
    return list(rows[:limit]), len(rows) > limit
