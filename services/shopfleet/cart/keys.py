"""Where a cart lives in the state store.

Keys (each names the shop and the owner: `u` a signed-in user, `a` an anonymous cart id):

    cart:{shop}:u:{user_id}                    a signed-in user's cart
    cart:{shop}:a:{cart_id}                    an anonymous cart (the X-Cart-Id header)
    <cart key>:removed                         its removed lines, restorable for a while
    <cart key>:anchor                          guards the creation of the cart (see store.py)
    cart:{shop}:u:{user_id}:order:{order_id}   the lines of a cancelled order, to put back
    cart-inbox:{consumer}:{shop}:{event_id}    an event the cart has handled (the inbox: the
                                               cart has no SQL database), kept for a TTL
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class CartRef:
    """Which cart: `u` (a user's, by user id) or `a` (anonymous, by X-Cart-Id), in a shop."""

    shop: str
    kind: Literal["u", "a"]
    owner_id: str

    @classmethod
    def user(cls, shop: str, user_id: str) -> CartRef:
        return cls(shop, "u", user_id)

    @classmethod
    def anonymous(cls, shop: str, cart_id: str) -> CartRef:
        return cls(shop, "a", cart_id.lower())

    @property
    def key(self) -> str:
        return f"cart:{self.shop}:{self.kind}:{self.owner_id}"

    @property
    def removed_key(self) -> str:
        return f"{self.key}:removed"

    @property
    def anchor_key(self) -> str:
        return f"{self.key}:anchor"

    def order_key(self, order_id: str) -> str:
        if self.kind != "u":
            raise ValueError("only a signed-in user's cart has order lines")
        return f"{self.key}:order:{order_id}"


def inbox_key(consumer: str, shop: str, event_id: str) -> str:
    """The mark that `consumer` has handled event `event_id` of `shop` (see checkout.py)."""
    return f"cart-inbox:{consumer}:{shop}:{event_id}"
