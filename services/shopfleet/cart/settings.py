"""Cart's settings: how long carts and removed lines are kept, and the catalog call's timeout.

The cart keeps no relational data (`database_url` of the base class is unused).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings

DAY_S = 86_400
ORDER_LINES_TTL_S = 30 * DAY_S


class CartSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_CART_", extra="ignore")

    anonymous_ttl_s: int = Field(
        default=7 * DAY_S,
        ge=60,
        description="An anonymous cart expires this long after its last write.",
    )
    user_ttl_s: int = Field(
        default=90 * DAY_S,
        ge=60,
        description="A signed-in user's cart expires this long after its last write.",
    )
    removed_ttl_s: int = Field(
        default=7 * DAY_S,
        ge=60,
        description="Removed lines can be restored for this long after the last removal.",
    )
    order_lines_ttl_s: int = Field(
        default=ORDER_LINES_TTL_S,
        ge=60,
        description="The lines of a cancelled order can be put back into the cart for this long.",
    )
    inbox_ttl_s: int = Field(
        default=7 * DAY_S,
        ge=60,
        description="How long the cart remembers an event it handled (longer than any "
        "redelivery of it), so that a redelivered event changes nothing.",
    )
    catalog_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Timeout of the price and stock lookup in catalog."
    )
    write_attempts: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Read-modify-write attempts of one change under concurrent writes before 409.",
    )
