"""The cart's stored documents (state-store values) and the schemas of its API.

Stored documents are what `store.py` keeps under the cart's keys; they hold what the
shopper chose (product, quantity, the price seen when adding) and never a current price:
prices and stock are looked up in catalog on every read. Input models forbid unknown
fields, so a typo is a 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfleet.kit.contracts import ids
from shopfleet.kit.money import Money

MAX_QUANTITY = 99  # units of one product in one line
MAX_LINES = 50  # lines in one cart
MAX_REMOVED = 50  # removed lines kept for restoring (the most recent ones)

ProductId = Annotated[
    ids.ProductId,
    Field(
        description="A product id from the catalog.",
        examples=["5f0c6b1e-8d8e-4f57-9a43-6f1b8f3f9a10"],
    ),
]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY, description="Units, 1 to 99.")]


# ----------------------------------------------------------------------------- stored


class _Stored(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer writer's extra fields are kept out


class StoredLine(_Stored):
    product_id: str
    quantity: int
    price_at_add: Money | None = None  # the catalog price when the shopper added it
    added_at: datetime


class OrderedCart(_Stored):
    """The cart as an order emptied it: the lines and version orders read (domain/checkout.py)."""

    order_id: str
    version: str
    lines: list[StoredLine]


class StoredCart(_Stored):
    lines: list[StoredLine] = Field(default_factory=list)
    rev: str = ""  # a fresh id per write: tells this write's ETag from a later one's
    updated_at: datetime | None = None
    # Set by the `order.placed` that emptied the cart; every shopper's write clears it.
    ordered: OrderedCart | None = None

    def line(self, product_id: str) -> StoredLine | None:
        return next((line for line in self.lines if line.product_id == product_id), None)

    @property
    def product_ids(self) -> list[str]:
        return [line.product_id for line in self.lines]


class RemovedLine(_Stored):
    product_id: str
    quantity: int
    price_at_add: Money | None = None
    added_at: datetime
    removed_at: datetime


class StoredRemoved(_Stored):
    lines: list[RemovedLine] = Field(default_factory=list)  # newest first, one per product

    def line(self, product_id: str) -> RemovedLine | None:
        return next((line for line in self.lines if line.product_id == product_id), None)


class OrderLine(_Stored):
    product_id: ids.ProductId
    quantity: int = Field(ge=1)
    unit_price: Money | None = None  # the order's price snapshot, if known


class StoredOrderLines(_Stored):
    """The lines of a cancelled order, kept until the shopper puts them back (or TTL)."""

    order_id: str
    lines: list[OrderLine]
    saved_at: datetime


# ----------------------------------------------------------------------------- requests


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_zero(value: Any) -> Any:
    if value == 0 and not isinstance(value, bool):
        raise ValueError(
            "0 is not a quantity; remove the line with DELETE /cart/items/{product_id}"
        )
    return value


class AddItem(_Input):
    product_id: ProductId
    quantity: Quantity = 1

    _not_zero = field_validator("quantity", mode="before")(_no_zero)


class UpdateItem(_Input):
    quantity: Quantity = Field(description="The line's new quantity, 1 to 99 (to remove: DELETE).")

    _not_zero = field_validator("quantity", mode="before")(_no_zero)


class RestoreRequest(_Input):
    """Restore removed lines (`product_ids`, or all of them when the body is `{}`), or put
    back the lines of a cancelled order (`order_id`; signed-in shoppers only)."""

    product_ids: list[ProductId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REMOVED,
        description="Removed lines to restore; omit to restore every removed line.",
    )
    order_id: ids.OrderRef | None = Field(
        default=None,
        description="A cancelled order whose lines go back into the cart.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RestoreRequest:
        if self.product_ids is not None and self.order_id is not None:
            raise ValueError("send either product_ids or order_id, not both")
        if self.product_ids is not None and len(set(self.product_ids)) != len(self.product_ids):
            raise ValueError("product_ids lists a product more than once")
        return self


# ----------------------------------------------------------------------------- responses


class CartLinePublic(BaseModel):
    product_id: str
    name: str | None = Field(description="Null when the catalog no longer knows the product.")
    slug: str | None = None
    sku: str | None = None
    image_url: str | None = None
    quantity: int
    unit_price: Money | None = Field(description="The catalog's price now.")
    price_when_added: Money | None = Field(description="The price when the line was added.")
    line_total: Money | None = Field(description="unit_price × quantity; null when unavailable.")
    available: int = Field(description="Units the catalog can sell now.")
    price_changed: bool = Field(description="The price now differs from the price when added.")
    out_of_stock: bool = Field(description="None left.")
    insufficient_stock: bool = Field(description="Some left, but fewer than the quantity.")
    unavailable: bool = Field(description="Deleted, deactivated or unknown to the catalog.")
    added_at: datetime


class CartPublic(BaseModel):
    owner: Literal["user", "anonymous"]
    cart_id: str | None = Field(description="The anonymous cart's id (also in X-Cart-Id).")
    lines: list[CartLinePublic]
    line_count: int
    item_count: int = Field(description="Units over all lines.")
    subtotal: Money | None = Field(
        description="Sum over the lines that can be ordered as they are (no stock or "
        "availability flag); null when no line has a price."
    )
    ready_for_checkout: bool = Field(description="Not empty and no line is flagged.")
    merged_cart_id: str | None = Field(
        default=None,
        description="Set when this request merged the anonymous cart X-Cart-Id into the "
        "user's cart; that id is spent.",
    )
    updated_at: datetime | None
    expires_at: datetime | None = Field(description="When the cart expires unless written to.")


class RemovedLinePublic(BaseModel):
    product_id: str
    name: str | None
    quantity: int
    unit_price: Money | None = Field(description="The catalog's price now.")
    price_when_added: Money | None
    unavailable: bool
    removed_at: datetime
    restorable_until: datetime


class RemovedLinesPublic(BaseModel):
    items: list[RemovedLinePublic] = Field(description="Newest first.")
