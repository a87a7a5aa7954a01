"""Orders' settings: how long an order waits for its payment, and whom it calls."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_ORDERS_", extra="ignore")

    payment_window_s: int = Field(
        default=1800,
        ge=10,
        le=30 * 86400,
        description="An unpaid order is cancelled (cause 'expired') this long after it was "
        "placed, and its stock released.",
    )
    max_unpaid_orders: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="How many orders one shopper may have awaiting payment at once; past "
        "it, placing answers 409 (pay or cancel one), so nobody holds a shop's stock with "
        "unpaid orders without limit.",
    )
    sweep_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the sweeper looks for expired orders and stock calls to retry.",
    )
    placing_timeout_s: int = Field(
        default=120,
        ge=10,
        description="An order still being placed after this long was abandoned (a crash): "
        "the sweeper releases its reservation and forgets it.",
    )
    call_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Timeout of calls to cart, catalog and shipping "
        "(default: the platform's call_timeout_s).",
    )
    cart_app_id: str = "cart"
    catalog_app_id: str = "catalog"
    shipping_app_id: str = "shipping"
    identity_app_id: str = Field(
        default="identity", description="App-id asked for a shop's settings (its quotas)."
    )

    def timeout_s(self) -> float:
        return self.call_timeout_s or self.platform.call_timeout_s
