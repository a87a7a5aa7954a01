"""The tenant bootstrap contract between the operator (or CLI) and identity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.money import Currency
from shopfleet.kit.text import PrintableStr

SETTINGS_PATH = "/internal/shops/{shop}/settings"  # GET -> ShopSettings (404 unknown shop)

# The identity app that must hold the tenant (`identity`, or `identity.<namespace>` for a
# dedicated shop), as the operator knows it: the gateway, which goes by the route table it
# has loaded (a ConfigMap the kubelet refreshes late), answers 503 `route-not-loaded`
# instead of bootstrapping the tenant in another identity than this one.
IDENTITY_APP_HEADER = "x-shopfleet-identity-app"
ROUTE_NOT_LOADED = "route-not-loaded"
# The problem slug of a bootstrap refused because the tenant is another namespace's (409).
TENANT_OWNED = "tenant-owned"


class TenantQuotas(BaseModel):
    """Limits the Shop's spec sets (`spec.quotas`); None: no limit."""

    model_config = ConfigDict(extra="forbid")

    products: int | None = Field(default=None, ge=0, description="Live products at most.")
    orders_per_day: int | None = Field(
        default=None, ge=0, description="Orders placed per day (UTC) at most."
    )


class TenantOwner(BaseModel):
    """The Shop a tenant belongs to. A Shop's name is unique platform-wide only while it
    exists: a tenant kept by `deletionPolicy: Retain` stays its namespace's, so a Shop of
    the same name applied later in another namespace does not inherit its data."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    uid: str = Field(min_length=1, max_length=64, description="The Shop's metadata.uid.")


class TenantBootstrap(BaseModel):
    """Create a shop (idempotent: the same request again changes nothing)."""

    model_config = ConfigDict(extra="forbid")

    shop: str = Field(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")
    display_name: PrintableStr = Field(min_length=1, max_length=120)
    currency: Currency = "EUR"
    admin_email: EmailStr
    admin_password: str = Field(min_length=10, max_length=256)
    # Applied again on every bootstrap of an existing shop: the spec's current quotas.
    quotas: TenantQuotas = Field(default_factory=TenantQuotas)
    # The operator sends it: a tenant owned by another namespace is refused (409
    # TENANT_OWNED), one of the same namespace (a re-created Shop) or without an owner yet
    # is adopted. None (the CLI, the embedded demo): only tenants without an owner.
    owner: TenantOwner | None = None


class TenantPublic(BaseModel):
    shop: str
    display_name: str
    currency: str
    quotas: TenantQuotas = Field(default_factory=TenantQuotas)
    admin_user_id: str
    owner: TenantOwner | None = Field(default=None, description="None: no Shop owns it yet.")
    created: bool = Field(description="False when the shop already existed.")
    adopted: bool = Field(
        default=False,
        description="True when this bootstrap took over an existing tenant: one kept from "
        "an earlier Shop of the namespace (another uid), or one without an owner.",
    )


class ShopSettings(BaseModel):
    """What other services need to know of a shop (identity owns it).

    Served to service invocation at `GET SETTINGS_PATH` (never routed by the gateway) and
    carried by the `shop.created` event.
    """

    shop: str
    display_name: str
    currency: str
    quotas: TenantQuotas = Field(default_factory=TenantQuotas)
