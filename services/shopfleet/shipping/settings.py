"""Shipping's settings (`SHOPFLEET_SHIPPING_*`): limits and the services it asks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class ShippingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_SHIPPING_", extra="ignore")

    max_methods_per_shop: int = Field(
        default=100, ge=1, le=10_000, description="Shipping methods one shop may have."
    )
    max_addresses_per_user: int = Field(
        default=50, ge=1, le=1000, description="Saved addresses one shopper may have."
    )
    catalog_app_id: str = Field(
        default="catalog", description="App-id asked for product prices and weights."
    )
    identity_app_id: str = Field(
        default="identity", description="App-id asked for a shop's settings (its currency)."
    )
    call_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Timeout of a call to catalog or identity."
    )
