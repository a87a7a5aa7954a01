"""What identity's rules refuse: one class per problem slug, each of a `kit.refusals` kind.

The kind decides the HTTP status (in the kit, in one place); a class here names the slug
and the members a caller needs to act on.
"""

from __future__ import annotations

from shopfleet.kit.contracts.tenants import TENANT_OWNED, TenantOwner
from shopfleet.kit.refusals import (
    InvalidRefusal,
    LimitRefusal,
    NotFoundRefusal,
    StateRefusal,
    UnauthenticatedRefusal,
    WrongFieldRefusal,
)


class ShopNotFound(NotFoundRefusal):
    @classmethod
    def of(cls, shop: str) -> ShopNotFound:
        return cls(f"Shop '{shop}' does not exist.")


class UserNotFound(NotFoundRefusal):
    """No such user in this shop: another shop's user is simply not here."""

    @classmethod
    def of(cls, shop: str, user_id: str) -> UserNotFound:
        return cls(f"No user '{user_id}' in shop '{shop}'.")


class EmailTaken(StateRefusal):
    default_slug = "email-taken"

    @classmethod
    def of(cls, email: str) -> EmailTaken:
        return cls(f"An account with {email} already exists in this shop; log in instead.")


class LastAdmin(StateRefusal):
    default_slug = "last-admin"

    def __init__(self) -> None:
        super().__init__("This is the shop's last Admin: make another user Admin first.")


class TenantOwned(StateRefusal):
    """The tenant is another namespace's; says whose, and the two ways forward."""

    default_slug = TENANT_OWNED
    title = "Tenant owned by another namespace"

    @classmethod
    def of(cls, shop: str, owner: TenantOwner) -> TenantOwned:
        return cls(
            f"The tenant '{shop}' (its users, orders and products) belongs to the Shop "
            f"'{shop}' of namespace '{owner.namespace}', whose data was kept when it was "
            f"deleted (deletionPolicy: Retain). To take it back, apply the Shop in namespace "
            f"'{owner.namespace}'; to start afresh, delete that data first "
            f"(`shopfleet shops purge {shop}`), then apply this Shop again.",
            owner_namespace=owner.namespace,
        )


class CurrentPasswordRequired(InvalidRefusal):
    def __init__(self) -> None:
        super().__init__("body.current_password", "required to change the password")


class WrongCurrentPassword(WrongFieldRefusal):
    def __init__(self) -> None:
        super().__init__("body.current_password", "is not your current password")


class WrongCredentials(UnauthenticatedRefusal):
    """A login that failed: the same answer for an unknown email and a wrong password."""

    def __init__(self) -> None:
        super().__init__("Wrong email or password.")


class RefreshRefused(UnauthenticatedRefusal):
    """A refresh token that starts no new pair (unknown, reused, expired, account gone)."""


class LoginThrottled(LimitRefusal):
    """Too many failed (or in-flight) logins for an account or an address."""

    default_slug = "login-throttled"

    def __init__(self, scope: str, retry_after_s: int, *, busy: bool) -> None:
        why = "logins are being checked" if busy else "failed logins"
        super().__init__(
            f"Too many {why} for this {scope}; retry in {retry_after_s} seconds.",
            retry_after_s=retry_after_s,
        )
        self.extra["retry_after_s"] = retry_after_s  # the body names the wait too
