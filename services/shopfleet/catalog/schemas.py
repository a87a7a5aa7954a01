"""The catalog API's schema families: what admins send and what everyone reads.

Input models forbid unknown fields, so a typo is a 422 naming the field. Amounts are
integer minor units of the shop's currency, bounded by the kit's `Money` limit.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from shopfleet.catalog.domain import available
from shopfleet.catalog.models import Product, ProductImage
from shopfleet.kit.auth import SHOP_API_PREFIX
from shopfleet.kit.contracts import ids
from shopfleet.kit.money import Amount, Currency, Money
from shopfleet.kit.text import Printable

MAX_STOCK = 1_000_000_000
MAX_WEIGHT_GRAMS = 1_000_000  # a tonne: as `kit.contracts.shipping.QuoteLine` accepts
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"


def _multiline(value: str) -> str:
    # Newlines and tabs belong in a description; other control characters never do.
    if any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters other than newlines and tabs")
    return value


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


Name = Annotated[str, Field(min_length=1, max_length=200), Printable]
Slug = Annotated[str, Field(min_length=1, max_length=120, pattern=SLUG_PATTERN, examples=["mug"])]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=SKU_PATTERN, examples=["MUG-01"])]
Description = Annotated[str, Field(max_length=5000), AfterValidator(_multiline)]
AttributeKey = Annotated[str, Field(min_length=1, max_length=64), Printable]
AttributeValue = Annotated[str, Field(max_length=500), Printable]
Attributes = Annotated[
    dict[AttributeKey, AttributeValue], Field(max_length=50, examples=[{"color": "blue"}])
]
CategoryIds = Annotated[list[ids.CategoryRef], Field(max_length=20), AfterValidator(_unique)]
Quantity = Annotated[int, Field(ge=0, le=MAX_STOCK)]
WeightGrams = Annotated[
    int, Field(ge=0, le=MAX_WEIGHT_GRAMS, description="Shipping weight of one unit, in grams.")
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceIn(_Input):
    amount: Amount
    currency: Currency | None = Field(
        default=None, description="Optional; must be the shop's currency if given."
    )


def _check_compare_at(value: int | None, price: int | None) -> int | None:
    if value is not None and price is not None and value <= price:
        raise ValueError(f"must be greater than the price ({price}), or null")
    return value


class ProductCreate(_Input):
    name: Name
    slug: Slug | None = Field(default=None, description="Default: made from the name.")
    description: Description = ""
    sku: Sku
    price: PriceIn
    compare_at_amount: Amount | None = Field(
        default=None, description="A former price shown struck through; above the price."
    )
    attributes: Attributes = Field(default_factory=dict)
    active: bool = True
    category_ids: CategoryIds = Field(default_factory=list)
    on_hand: Quantity = Field(default=0, description="Initial stock.")
    low_stock_threshold: Quantity | None = Field(
        default=None, description="stock.low is emitted when availability falls to it."
    )
    weight_grams: WeightGrams = 0

    @field_validator("compare_at_amount")
    @classmethod
    def _above_price(cls, value: int | None, info: ValidationInfo) -> int | None:
        price = info.data.get("price")
        return _check_compare_at(value, price.amount if price else None)


class ProductUpdate(_Input):
    """Change any of these; the price, stock and images have their own routes."""

    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None
    sku: Sku | None = None
    attributes: Attributes | None = None
    active: bool | None = None
    category_ids: CategoryIds | None = None
    low_stock_threshold: Quantity | None = None
    weight_grams: WeightGrams | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # only for a null that was sent: defaults are not validated
            raise ValueError("must not be null; omit the field to keep its value")
        return value


class PriceUpdate(_Input):
    amount: Amount
    compare_at_amount: Amount | None = None
    currency: Currency | None = Field(
        default=None, description="Optional; must be the shop's currency if given."
    )

    @field_validator("compare_at_amount")
    @classmethod
    def _above_price(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _check_compare_at(value, info.data.get("amount"))


class StockUpdate(_Input):
    on_hand: Quantity


class Sort(StrEnum):
    NEWEST = "newest"
    PRICE = "price"
    PRICE_DESC = "-price"
    NAME = "name"
    NAME_DESC = "-name"


# ----------------------------------------------------------------------------- output


def images_prefix(shop: str) -> str:
    return SHOP_API_PREFIX.replace("{shop}", shop) + "/images/"


def image_url(shop: str, image_id: str, size: str = "full") -> str:
    """Where the gateway serves an image (relative to the platform's base URL)."""
    return f"{images_prefix(shop)}{image_id}?size={size}"


class ImagePublic(BaseModel):
    id: str
    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    position: int


class StockLevels(BaseModel):
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int


class ProductPublic(BaseModel):
    id: str
    name: str
    slug: str
    description: str
    sku: str
    price: Money
    compare_at: Money | None
    attributes: dict[str, str]
    active: bool
    deleted: bool = Field(description="Deleted products stay readable (orders refer to them).")
    category_ids: list[str]
    images: list[ImagePublic]
    thumbnail_url: str | None
    available: int = Field(description="Units that can be bought now.")
    weight_grams: int = Field(description="Shipping weight of one unit, in grams (0: unknown).")
    stock: StockLevels | None = Field(description="Stock levels (admins only).")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class ProductListItem(BaseModel):
    id: str
    name: str
    slug: str
    price: Money
    compare_at: Money | None
    thumbnail_url: str | None
    available: int
    active: bool
    category_ids: list[str]


class ProductsPage(BaseModel):
    items: list[ProductListItem]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


class PriceHistoryEntry(BaseModel):
    amount: int
    compare_at_amount: int | None
    currency: str
    changed_at: datetime
    changed_by: str | None


class PriceHistoryPage(BaseModel):
    items: list[PriceHistoryEntry]
    next_cursor: str | None = None


def product_public(product: Product, images: list[ProductImage], *, admin: bool) -> ProductPublic:
    """The product as a caller reads it; stock levels only for an admin."""
    shop, currency = product.shop, product.currency
    compare_at = product.compare_at_amount
    thumb = product.thumbnail_image_id
    return ProductPublic(
        id=product.id,
        name=product.name,
        slug=product.slug,
        description=product.description,
        sku=product.sku,
        price=Money(amount=product.price_amount, currency=currency),
        compare_at=None if compare_at is None else Money(amount=compare_at, currency=currency),
        attributes=product.attributes,
        active=product.active,
        deleted=product.deleted_at is not None,
        category_ids=product.category_ids,
        images=[image_public(shop, image) for image in images],
        thumbnail_url=image_url(shop, thumb, "thumb") if thumb else None,
        available=available(product),
        weight_grams=product.weight_grams,
        stock=StockLevels(
            on_hand=product.on_hand,
            reserved=product.reserved,
            available=product.on_hand - product.reserved,
            low_stock_threshold=product.low_stock_threshold,
        )
        if admin
        else None,
        created_at=product.created_at,
        updated_at=product.updated_at,
        deleted_at=product.deleted_at,
        version=product.version,
    )


def image_public(shop: str, image: ProductImage) -> ImagePublic:
    return ImagePublic(
        id=image.id,
        url=image_url(shop, image.id, "full"),
        thumbnail_url=image_url(shop, image.id, "thumb"),
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        position=image.position,
    )
