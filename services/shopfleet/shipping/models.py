"""Shipping's tables and the schema families of its API.

Tables: `shipping_methods` (each shop's methods, keyed by the slug its admin chose),
`shipping_addresses` (each shopper's saved addresses), `shipments` (one per order: the
unique (shop, order_id) is what makes a redelivered `order.paid` create nothing twice) and
`cancelled_orders` (orders cancelled before their shipment existed, so a late
`order.paid` creates none). Amounts are integer minor units of the method's `currency`,
which is the shop's.

Input models forbid unknown fields, so a typo is a 422 naming the field.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.catalog import MAX_LINE_QUANTITY
from shopfleet.kit.contracts.events import ShipmentStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.countries import CountryCode
from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.kit.money import Amount, Currency
from shopfleet.kit.text import PrintableStr
from shopfleet.shipping.domain.methods import MethodRecord
from shopfleet.shipping.domain.shipments import ShipmentRecord

MAX_DAYS = 365


def new_id() -> str:
    return str(uuid.uuid4())


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


# ----------------------------------------------------------------------------- tables


class ShippingModel(SQLModel, registry=registry()):
    """Shipping's own metadata: services share one process in the embedded platform."""


class ShippingMethod(ShippingModel, table=True):
    __tablename__ = "shipping_methods"

    shop: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=120)
    carrier: str = Field(max_length=80)
    currency: str = Field(max_length=3)
    base_amount: int = Field(sa_type=sa.BigInteger)
    per_kg_amount: int = Field(sa_type=sa.BigInteger)
    per_item_amount: int = Field(sa_type=sa.BigInteger)
    free_above_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    estimated_days_min: int
    estimated_days_max: int
    countries: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    active: bool = True
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    version: int = 1


class SavedAddress(ShippingModel, table=True):
    __tablename__ = "shipping_addresses"
    __table_args__ = (
        sa.Index("ix_shipping_addresses_owner", "shop", "user_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    user_id: str = Field(max_length=64)
    name: str = Field(max_length=120)
    line1: str = Field(max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str = Field(max_length=20)
    country: str = Field(max_length=2)
    phone: str | None = Field(default=None, max_length=40)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Shipment(ShippingModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (
        sa.UniqueConstraint("shop", "order_id", name="uq_shipments_shop_order"),
        sa.Index("ix_shipments_shop_created", "shop", "created_at", "id"),
        sa.Index("ix_shipments_shop_user_created", "shop", "user_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    order_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    method_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    carrier: str | None = Field(default=None, max_length=80)
    tracking_number: str | None = Field(default=None, max_length=100)
    address: dict[str, Any] = Field(sa_type=sa.JSON)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    version: int = 1


class CancelledOrder(ShippingModel, table=True):
    """An order cancelled before its shipment existed: a late `order.paid` ships nothing."""

    __tablename__ = "cancelled_orders"

    shop: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(primary_key=True, max_length=64)
    cancelled_at: datetime = _timestamp()


TABLES = [ShippingMethod, SavedAddress, Shipment, CancelledOrder]

# ----------------------------------------------------------------------------- input

MethodId = Annotated[
    ids.ShippingMethodId,
    PydanticField(
        description="A slug the admin chooses: lower-case letters, digits and hyphens.",
        examples=["standard"],
    ),
]
MethodName = Annotated[PrintableStr, PydanticField(min_length=1, max_length=120)]
Carrier = Annotated[PrintableStr, PydanticField(min_length=1, max_length=80)]
Days = Annotated[int, PydanticField(ge=0, le=MAX_DAYS)]
Countries = Annotated[
    list[CountryCode],
    PydanticField(
        max_length=250,
        description="ISO 3166-1 alpha-2 codes this method ships to; empty: everywhere.",
        examples=[["DE", "AT", "CH"]],
    ),
]
TrackingNumber = Annotated[PrintableStr, PydanticField(min_length=1, max_length=100)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class MethodCreate(_Input):
    id: MethodId
    name: MethodName
    carrier: Carrier
    currency: Currency | None = PydanticField(
        default=None, description="Optional; must be the shop's currency if given."
    )
    base_amount: Amount = 0
    per_kg_amount: Amount = PydanticField(
        default=0, description="Per started kilogram of the shipment's weight."
    )
    per_item_amount: Amount = PydanticField(default=0, description="Per unit shipped.")
    free_above_amount: Amount | None = PydanticField(
        default=None,
        description="Shipping is free when the lines' subtotal reaches this; null: never free.",
    )
    estimated_days_min: Days = 1
    estimated_days_max: Days = 5
    countries: Countries = PydanticField(default_factory=list)
    active: bool = True

    @field_validator("countries")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _unique(value)

    @model_validator(mode="after")
    def _days_in_order(self) -> MethodCreate:
        if self.estimated_days_max < self.estimated_days_min:
            raise ValueError(
                "estimated_days_max must be at least estimated_days_min "
                f"({self.estimated_days_min})"
            )
        return self


class MethodUpdate(_Input):
    """Only the fields sent change; `free_above_amount: null` removes the threshold."""

    name: MethodName | None = None
    carrier: Carrier | None = None
    base_amount: Amount | None = None
    per_kg_amount: Amount | None = None
    per_item_amount: Amount | None = None
    free_above_amount: Amount | None = None
    estimated_days_min: Days | None = None
    estimated_days_max: Days | None = None
    countries: Countries | None = None
    active: bool | None = None

    @field_validator("countries")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(value)

    @field_validator(
        "name",
        "carrier",
        "base_amount",
        "per_kg_amount",
        "per_item_amount",
        "estimated_days_min",
        "estimated_days_max",
        "countries",
        "active",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # only a null that was sent is validated: omitting it is fine
            raise ValueError("must not be null; omit the field to keep its value")
        return value


class AddressUpdate(_Input):
    """Only the fields sent change; `line2`, `region` and `phone` may be null to clear them."""

    name: PrintableStr | None = PydanticField(default=None, min_length=1, max_length=120)
    line1: PrintableStr | None = PydanticField(default=None, min_length=1, max_length=200)
    line2: PrintableStr | None = PydanticField(default=None, max_length=200)
    city: PrintableStr | None = PydanticField(default=None, min_length=1, max_length=100)
    region: PrintableStr | None = PydanticField(default=None, max_length=100)
    postal_code: PrintableStr | None = PydanticField(default=None, min_length=1, max_length=20)
    country: CountryCode | None = None
    phone: PrintableStr | None = PydanticField(default=None, max_length=40)

    @field_validator("name", "line1", "city", "postal_code", "country")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null; omit the field to keep its value")
        return value


class QuoteItem(_Input):
    product_id: ids.ProductId
    quantity: int = PydanticField(ge=1, le=MAX_LINE_QUANTITY)


class QuoteAsk(_Input):
    """A quote for the public: products by id (catalog prices and weighs them)."""

    method_id: MethodId
    address: Address | None = PydanticField(
        default=None, description="Where to ship; or `address_id` of a saved address."
    )
    address_id: ids.AddressId | None = PydanticField(
        default=None, description="A saved address (signed in)."
    )
    lines: list[QuoteItem] = PydanticField(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_address(self) -> QuoteAsk:
        if (self.address is None) == (self.address_id is None):
            raise ValueError("send exactly one of `address` and `address_id`")
        return self


class ShipmentLine(_Input):
    product_id: ids.ProductId
    name: PrintableStr = PydanticField(default="", max_length=200)
    sku: PrintableStr = PydanticField(default="", max_length=64)
    quantity: int = PydanticField(ge=1, le=MAX_LINE_QUANTITY)


class ShipmentCreate(_Input):
    """A shipment made by hand for an order (e.g. one whose `order.paid` was lost)."""

    order_id: ids.OrderRef
    user_id: ids.UserRef = PydanticField(description="The order's shopper.")
    method_id: MethodId
    address: Address
    lines: list[ShipmentLine] = PydanticField(default_factory=list, max_length=100)
    carrier: Carrier | None = PydanticField(default=None, description="Default: the method's.")
    tracking_number: TrackingNumber | None = None


class ShipmentUpdate(_Input):
    """Move the shipment on, and/or set its carrier and tracking number (null clears)."""

    status: ShipmentStatus | None = None
    carrier: Carrier | None = None
    tracking_number: TrackingNumber | None = None

    @field_validator("status")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null; omit the field to keep the status")
        return value


# ----------------------------------------------------------------------------- output


class MethodPublic(BaseModel):
    id: str
    name: str
    carrier: str
    currency: str
    base_amount: int
    per_kg_amount: int
    per_item_amount: int
    free_above_amount: int | None
    estimated_days_min: int
    estimated_days_max: int
    countries: list[str] = PydanticField(description="Empty: ships everywhere.")
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


METHOD_COLUMNS = tuple(getattr(ShippingMethod, name) for name in MethodPublic.model_fields)


class MethodList(BaseModel):
    items: list[MethodPublic]


class MethodDeletion(BaseModel):
    id: str
    outcome: Literal["deleted", "deactivated"] = PydanticField(
        description="`deactivated` when shipments use the method: it is kept, inactive."
    )


class AddressPublic(Address):
    model_config = ConfigDict(extra="ignore")

    id: str
    created_at: datetime
    updated_at: datetime


ADDRESS_COLUMNS = tuple(getattr(SavedAddress, name) for name in AddressPublic.model_fields)
ADDRESS_FIELDS = tuple(Address.model_fields)


class AddressList(BaseModel):
    items: list[AddressPublic]


class HistoryEntry(BaseModel):
    status: str
    previous: str | None
    at: datetime
    cause: str = PydanticField(description="order.paid, order.cancelled, admin, …")
    actor: str | None = PydanticField(description="The admin's user id, for manual changes.")


class ShipmentPublic(BaseModel):
    id: str
    order_id: str
    user_id: str
    method_id: str
    status: ShipmentStatus
    carrier: str | None
    tracking_number: str | None
    address: Address
    lines: list[ShipmentLine]
    history: list[HistoryEntry]
    created_at: datetime
    updated_at: datetime
    version: int


SHIPMENT_COLUMNS = tuple(getattr(Shipment, name) for name in ShipmentPublic.model_fields)


class ShipmentsPage(BaseModel):
    items: list[ShipmentPublic]
    next_cursor: str | None = PydanticField(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


def record_columns(record: MethodRecord | ShipmentRecord) -> dict[str, Any]:
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


def method_public(method: MethodRecord) -> MethodPublic:
    return MethodPublic.model_validate(record_columns(method))


def shipment_public(shipment: ShipmentRecord) -> ShipmentPublic:
    return ShipmentPublic.model_validate(
        record_columns(shipment) | {"status": shipment.status.value}
    )
