"""Shipping's contract: addresses, and quotes for a set of lines to an address.

Served by shipping under `/internal/shops/{shop}/...` for service invocation only (the
gateway never routes there); orders resolves a saved address and quotes a method when it
places or re-quotes an order. The public `POST /shipping/quote` answers the same `Quote`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shopfleet.kit.contracts.catalog import MAX_LINE_QUANTITY
from shopfleet.kit.contracts.ids import ProductId, ShippingMethodId
from shopfleet.kit.countries import CountryCode
from shopfleet.kit.money import Money
from shopfleet.kit.text import PrintableStr

ADDRESS_PATH = "/internal/shops/{shop}/users/{user_id}/addresses/{address_id}"  # GET -> Address
QUOTE_PATH = "/internal/shops/{shop}/quotes"  # POST QuoteRequest -> Quote (404 unknown method,
# 422 method does not ship to the address's country)


class Address(BaseModel):
    """A postal address. `country` is an ISO 3166-1 alpha-2 code; `postal_code` is required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PrintableStr = Field(min_length=1, max_length=120, description="The recipient.")
    line1: PrintableStr = Field(min_length=1, max_length=200)
    line2: PrintableStr | None = Field(default=None, max_length=200)
    city: PrintableStr = Field(min_length=1, max_length=100)
    region: PrintableStr | None = Field(default=None, max_length=100)
    postal_code: PrintableStr = Field(min_length=1, max_length=20)
    country: CountryCode
    phone: PrintableStr | None = Field(default=None, max_length=40)


class QuoteLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)
    unit_price: Money
    weight_grams: int = Field(default=0, ge=0, le=1_000_000)


class QuoteRequest(BaseModel):
    """What a shipment would cost: one method, one address, the lines priced by catalog."""

    model_config = ConfigDict(extra="forbid")

    method_id: ShippingMethodId
    address: Address
    lines: list[QuoteLine] = Field(min_length=1, max_length=100)


class Quote(BaseModel):
    method_id: str
    method_name: str
    carrier: str
    cost: Money = Field(description="Zero when the subtotal reaches the free-above threshold.")
    subtotal: Money = Field(description="The lines' total the quote was computed on.")
    weight_grams: int
    estimated_days_min: int
    estimated_days_max: int
