"""Every kind of id, in one place: the pattern it is checked against and the `Annotated`
type that path, query and body fields declare (add `Path(...)`, `Query(...)` or
`Field(...)` where it is used, for its description).

An id is checked against its owner's pattern, the form the service that generates it
issues and accepts. A service that only keeps another's id as a reference checks it
against `REFERENCE_PATTERN` instead: nothing that could break a key or path layout, and
no more, so it never depends on another service's format; the owner alone says whether
the id exists. The references: orders' ids in catalog's reservations, cart's restore and
shipping's shipments; categories' ids in catalog's products; users' ids (a token's
subject) in cart's, orders' and shipping's lookups by user.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# ----------------------------------------------------------------------------- owners' forms

# identity: a shop slug is a DNS label short enough for the namespace `shop-<slug>`.
SHOP_SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
USER_ID_PATTERN = r"^[0-9a-f-]{1,36}$"  # identity: UUIDs, nothing else names a user
# catalog
PRODUCT_ID_PATTERN = r"^[0-9a-f-]{1,36}$"
IMAGE_ID_PATTERN = PRODUCT_ID_PATTERN
# categories
CATEGORY_ID_PATTERN = r"^[0-9a-f-]{1,36}$"
# cart: the anonymous cart id a client sends in X-Cart-Id, a UUID version 4 as cart issues.
CART_ID_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
# orders
ORDER_ID_PATTERN = r"^[0-9a-f-]{36}$"
# shipping
ADDRESS_ID_PATTERN = r"^[0-9a-f-]{1,36}$"
SHIPMENT_ID_PATTERN = ADDRESS_ID_PATTERN
SHIPPING_METHOD_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"  # a slug chosen by the shop's admin
# payments (a payment method is Stripe's id)
PAYMENT_ID_PATTERN = r"^[0-9a-f-]{1,36}$"
PAYMENT_METHOD_ID_PATTERN = r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$"
# notifications
NOTIFICATION_ID_PATTERN = r"^[0-9a-f-]{36}$"

# ----------------------------------------------------------------------------- references

REFERENCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# ----------------------------------------------------------------------------- field types

ShopSlug = Annotated[str, Field(pattern=SHOP_SLUG_PATTERN)]
UserId = Annotated[str, Field(pattern=USER_ID_PATTERN)]
ProductId = Annotated[str, Field(pattern=PRODUCT_ID_PATTERN)]
ImageId = Annotated[str, Field(pattern=IMAGE_ID_PATTERN)]
CategoryId = Annotated[str, Field(pattern=CATEGORY_ID_PATTERN)]
CartId = Annotated[str, Field(pattern=CART_ID_PATTERN)]
OrderId = Annotated[str, Field(pattern=ORDER_ID_PATTERN)]
AddressId = Annotated[str, Field(pattern=ADDRESS_ID_PATTERN)]
ShipmentId = Annotated[str, Field(pattern=SHIPMENT_ID_PATTERN)]
ShippingMethodId = Annotated[str, Field(pattern=SHIPPING_METHOD_ID_PATTERN)]
PaymentId = Annotated[str, Field(pattern=PAYMENT_ID_PATTERN)]
PaymentMethodId = Annotated[str, Field(pattern=PAYMENT_METHOD_ID_PATTERN)]
NotificationId = Annotated[str, Field(pattern=NOTIFICATION_ID_PATTERN)]

# Another service's id, kept as a reference (see the module's docstring).
OrderRef = Annotated[str, Field(pattern=REFERENCE_PATTERN)]
UserRef = Annotated[str, Field(pattern=REFERENCE_PATTERN)]
CategoryRef = Annotated[str, Field(pattern=REFERENCE_PATTERN)]
