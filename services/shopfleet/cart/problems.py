"""The cart's own problem answers: a rule the request broke, a stale If-Match, contention."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.errors import Problem
from shopfleet.kit.errors import field_problem as kit_field_problem


def _cannot_price(service: str, operation: str) -> str:
    return (
        f"Prices and stock cannot be checked right now because the {service} is unavailable; "
        "your cart is unchanged. Retry in a few seconds."
    )


# The cart prices before it writes: whatever goes wrong in catalog, nothing was changed.
CATALOG_WORDING = Wording(unavailable=_cannot_price, bad_answer="unavailable")


def field_problem(status: int, detail: str, field: str, *, slug: str, **extra: Any) -> Problem:
    """The kit's field problem with the cart's whole-sentence messages as its detail."""
    return kit_field_problem(status, field, detail, slug=slug, detail=detail, **extra)


class CartBusy(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "The cart is being changed by another request right now and this change did not "
            "get through; nothing was changed. Retry.",
            slug="cart-busy",
            headers={"Retry-After": "1"},
        )


class StaleCart(Problem):
    def __init__(self) -> None:
        super().__init__(
            412,
            "The cart changed since you read it (If-Match does not match its ETag); nothing "
            "was changed. GET /cart for the current cart and ETag, then retry.",
            slug="precondition-failed",
        )
