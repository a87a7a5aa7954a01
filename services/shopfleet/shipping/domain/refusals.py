"""What shipping's rules refuse: one class per problem slug, each of a `kit.refusals` kind.

The kind decides the HTTP status (in the kit, in one place); a class here only names the
slug, and the members a caller needs to act on.
"""

from __future__ import annotations

from shopfleet.kit.refusals import (
    FieldConflict,
    InvalidRefusal,
    NotFoundRefusal,
    StateRefusal,
)


class ShipmentNotFound(NotFoundRefusal):
    """No such shipment, or not the caller's (the same answer: no probing)."""

    default_slug = "shipment-not-found"

    @classmethod
    def of(cls, shipment_id: str) -> ShipmentNotFound:
        return cls(f"No shipment '{shipment_id}' here.")


class MethodNotFound(NotFoundRefusal):
    default_slug = "shipping-method-not-found"


class MethodRetired(MethodNotFound):
    """A method that is not offered any more: to quotes, as if it did not exist."""


def method_not_found(shop: str, method_id: str) -> MethodNotFound:
    return MethodNotFound(
        f"No shipping method '{method_id}' in shop '{shop}'; GET /shipping/methods lists them."
    )


class AddressNotFound(NotFoundRefusal):
    """No such address of the caller's: anyone else's is as if it did not exist."""

    default_slug = "address-not-found"

    @classmethod
    def of(cls, address_id: str) -> AddressNotFound:
        return cls(
            f"You have no saved address '{address_id}'; GET /shipping/addresses lists yours."
        )


class TransitionRefused(StateRefusal):
    """A move the transition table does not allow; `current` and `allowed` say what may."""

    default_slug = "invalid-transition"


class ShipmentNotDeletable(StateRefusal):
    default_slug = "shipment-not-deletable"


class ShipmentExists(StateRefusal):
    """The order has a shipment already; `shipment_id` names it."""

    default_slug = "shipment-exists"


class TooManyMethods(StateRefusal):
    default_slug = "too-many-methods"


class TooManyAddresses(StateRefusal):
    default_slug = "too-many-addresses"


class MethodIdTaken(FieldConflict):
    default_slug = "method-id-taken"


class QuoteError(InvalidRefusal):
    """A quote that cannot be given; `field` names the request field to fix, the slug why
    (country-not-served, currency-mismatch, amount-too-large)."""


class ProductNotForSale(InvalidRefusal):
    default_slug = "product-not-for-sale"


class CurrencyMismatch(InvalidRefusal):
    default_slug = "currency-mismatch"


class DaysOutOfOrder(InvalidRefusal):
    """estimated_days_max below estimated_days_min (slug `validation-error`)."""


class UnknownMethod(InvalidRefusal):
    """A shipment names a method the shop does not have (slug `validation-error`)."""
