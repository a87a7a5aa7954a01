"""Who a cart request is for, and which carts that means."""

from __future__ import annotations

from dataclasses import dataclass

from shopfleet.cart.keys import CartRef


@dataclass(frozen=True, slots=True)
class Shopper:
    """Who is asking: a signed-in user (maybe with an anonymous cart to merge) or an
    anonymous shopper identified by the X-Cart-Id header (None: no cart yet)."""

    shop: str
    user_id: str | None = None
    cart_id: str | None = None

    @property
    def cart(self) -> CartRef | None:
        if self.user_id is not None:
            return CartRef.user(self.shop, self.user_id)
        if self.cart_id is not None:
            return CartRef.anonymous(self.shop, self.cart_id)
        return None

    @property
    def merges(self) -> CartRef | None:
        """The anonymous cart a signed-in shopper's request brings along."""
        if self.user_id is not None and self.cart_id is not None:
            return CartRef.anonymous(self.shop, self.cart_id)
        return None
