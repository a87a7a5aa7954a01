"""What orders' rules refuse: one class per problem slug, each of a `kit.refusals` kind.

The kind decides the HTTP status (in the kit, in one place); a class here only names the
slug and the members a caller needs to act on. `retry_after_s` on a class becomes the
answer's Retry-After.
"""

from __future__ import annotations

from typing import Any

from shopfleet.kit.refusals import (
    ForbiddenRefusal,
    InvalidRefusal,
    LimitRefusal,
    NotFoundRefusal,
    StateRefusal,
    UnavailableRefusal,
)

RETRY_SOON_S = 5  # what a shopper waits for an order being placed right now


class OrderNotFound(NotFoundRefusal):
    """No such order, or not one the caller may see (the same answer: no probing)."""


class OthersOrdersForbidden(ForbiddenRefusal):
    """Only a shop Admin lists other users' orders."""


class TransitionRefused(StateRefusal):
    """A move the transition table does not allow (slug `conflict`)."""


class OrderChanged(StateRefusal):
    default_slug = "order-changed"


class OrderNotEditable(StateRefusal):
    default_slug = "order-not-editable"


class OrderEnded(StateRefusal):
    default_slug = "order-ended"


class OrderNotCancellable(StateRefusal):
    default_slug = "order-not-cancellable"


class OrderInProgress(StateRefusal):
    """The order this Idempotency-Key names is still being placed: retry soon."""

    default_slug = "order-in-progress"
    retry_after_s = RETRY_SOON_S


class IdempotencyKeyReused(InvalidRefusal):
    default_slug = "idempotency-key-reused"

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key",
            "this key was used for another request; use a new key for a new order",
        )


class CartAlreadyOrdered(StateRefusal):
    """This version of the cart is ordered already; retry soon while that order is placed."""

    default_slug = "cart-already-ordered"

    def __init__(self, detail: str, *, order_id: str, being_placed: bool) -> None:
        super().__init__(detail, order_id=order_id)
        self.retry_after_s = RETRY_SOON_S if being_placed else None


class TooManyUnpaidOrders(StateRefusal):
    default_slug = "too-many-unpaid-orders"


class DailyQuotaExceeded(LimitRefusal):
    """The shop's `quotas.ordersPerDay` is used up until midnight UTC."""

    default_slug = "quota-exceeded"


class OutOfStock(StateRefusal):
    default_slug = "out-of-stock"


class CartRefused(StateRefusal):
    """The cart cannot become an order as it is; the slug says why (`cart-empty`,
    `too-many-lines`, `quantity-too-large`, `products-unavailable`, `mixed-currencies`,
    `currency-mismatch`, `order-too-large`)."""

    def __init__(self, detail: str, *, slug: str, **extra: Any) -> None:
        super().__init__(detail, slug=slug, **extra)


def unavailable_detail(service: str, what: str) -> str:
    """How orders words a service it needs (itself included) that could not do its part;
    its calls' `Wording` says the same."""
    return (
        f"The {service} service is unavailable, so {what} cannot be done right now; "
        "nothing was changed. Retry in a few seconds."
    )


class DependencyUnavailable(UnavailableRefusal):
    """A service orders needs did not do its part; nothing changed, retry later."""

    def __init__(self, app_id: str, what: str) -> None:
        super().__init__(
            unavailable_detail(app_id, what),
            slug=f"{app_id}-unavailable",
            retry_after_s=RETRY_SOON_S,
        )
