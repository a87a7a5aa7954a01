"""Cart's contract: a signed-in shopper's cart lines, for orders to check out.

Served by cart under `/internal/shops/{shop}/...` for service invocation only. The lines
carry quantities, never prices: orders prices them with catalog.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

CART_LINES_PATH = "/internal/shops/{shop}/carts/{user_id}"  # GET -> CartLines (empty if none)


class CartLine(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)


class CartLines(BaseModel):
    user_id: str
    lines: list[CartLine]
    # The cart's version (its ETag): changes with every write; None when there is no cart.
    # Orders lets one version of a cart become one open order.
    version: str | None = None
    # The order whose placing emptied the cart, when the shopper has not written to it
    # since: `lines` and `version` are then the cart as that order read it, so a late
    # duplicate of that order meets that order, not an empty cart. Orders never places
    # from such a cart.
    ordered_by: str | None = None
