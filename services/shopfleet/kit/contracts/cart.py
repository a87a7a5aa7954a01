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
