"""The tenant bootstrap contract between the operator (or CLI) and identity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from shopfleet.kit.auth import SHOP_SLUG_PATTERN
from shopfleet.kit.money import Currency
from shopfleet.kit.text import PrintableStr

SETTINGS_PATH = "/internal/shops/{shop}/settings"  # GET -> ShopSettings (404 unknown shop)


class TenantBootstrap(BaseModel):
    """Create a shop (idempotent: the same request again changes nothing)."""

    model_config = ConfigDict(extra="forbid")

    shop: str = Field(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")
    display_name: PrintableStr = Field(min_length=1, max_length=120)
    currency: Currency = "EUR"
    admin_email: EmailStr
    admin_password: str = Field(min_length=10, max_length=256)


class TenantPublic(BaseModel):
    shop: str
    display_name: str
    currency: str
    admin_user_id: str
    created: bool = Field(description="False when the shop already existed.")


class ShopSettings(BaseModel):
    """What other services need to know of a shop (identity owns it).

    Served to service invocation at `GET SETTINGS_PATH` (never routed by the gateway) and
    carried by the `shop.created` event.
    """

    shop: str
    display_name: str
    currency: str
