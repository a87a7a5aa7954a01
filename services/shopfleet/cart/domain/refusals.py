"""What the cart's rules refuse: one class per problem slug, each of a `kit.refusals` kind.

The kind decides the HTTP status, in the kit. A cart refusal names the request field to
change (`field`, answered as an `errors` entry) and its detail is a whole sentence, which
is also that entry's message.
"""

from __future__ import annotations

from typing import Any

from shopfleet.kit.refusals import (
    FieldNamed,
    InvalidRefusal,
    NotFoundRefusal,
    PreconditionRefusal,
    Refusal,
    StateRefusal,
)

CART_BUSY_RETRY_S = 1


class _NamesField(Refusal, FieldNamed):
    """Mixed in first: the detail is the sentence, `field` the request field to change."""

    def __init__(self, detail: str, field: str, **extra: Any) -> None:
        Refusal.__init__(self, detail, **extra)
        self.field = field
        self.message = detail


class NotForSale(_NamesField, InvalidRefusal):
    """Adding a product catalog does not sell (unknown, deleted or inactive)."""

    default_slug = "unknown-product"


class ProductUnavailable(_NamesField, StateRefusal):
    """Changing the quantity of a line whose product is no longer for sale."""

    default_slug = "product-unavailable"


class CartFull(_NamesField, StateRefusal):
    default_slug = "cart-full"


class LineQuantityLimit(_NamesField, StateRefusal):
    default_slug = "line-quantity-limit"


class InsufficientStock(_NamesField, StateRefusal):
    default_slug = "insufficient-stock"


class NotInCart(_NamesField, NotFoundRefusal):
    default_slug = "not-in-cart"


class NotRemoved(_NamesField, NotFoundRefusal):
    """Restoring lines that are not among the removed ones (or were kept too long)."""

    default_slug = "not-removed"


class OrderLinesNotFound(_NamesField, NotFoundRefusal):
    default_slug = "order-lines-not-found"


class CartBusy(StateRefusal):
    """Concurrent writes kept this one from getting through: nothing changed, retry."""

    default_slug = "cart-busy"
    retry_after_s = CART_BUSY_RETRY_S

    def __init__(self) -> None:
        super().__init__(
            "The cart is being changed by another request right now and this change did not "
            "get through; nothing was changed. Retry."
        )


class StaleCart(PreconditionRefusal):
    """If-Match names a version of the cart that is not the current one."""

    def __init__(self) -> None:
        super().__init__(
            "The cart changed since you read it (If-Match does not match its ETag); nothing "
            "was changed. GET /cart for the current cart and ETag, then retry."
        )
