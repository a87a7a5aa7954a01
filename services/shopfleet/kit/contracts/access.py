"""Which app may invoke which routes of the others: the one table behind Dapr's
`accessControl` (DESIGN §5).

The platform's Configuration (`components/configuration.yaml`, checked equal to this by a
test) and the Configuration the operator gives a dedicated shop's namespace are both made
from `GRANTS`. A caller may reach only what is listed for it; everything else is denied on
the called app's sidecar, before the app sees the request. A new service-to-service call
needs a line here, or the sidecar refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shopfleet.kit.contracts.sessions import SESSIONS_PATH

JWKS = "/.well-known/jwks.json"


@dataclass(frozen=True)
class Grant:
    path: str  # Dapr's operation name: `*` one segment, `**` any depth
    verbs: tuple[str, ...]


def _verify_tokens() -> tuple[Grant, ...]:
    """Every app checks access tokens: identity's keys and its feed of ended sessions."""
    return (Grant(JWKS, ("GET",)), Grant(SESSIONS_PATH, ("GET",)))


GRANTS: dict[str, tuple[Grant, ...]] = {
    # Shop APIs, the keys it verifies tokens with, API docs, readiness, tenant bootstrap.
    "gateway": (
        Grant("/shops/**", ("*",)),
        *_verify_tokens(),
        Grant("/openapi.json", ("GET",)),
        Grant("/readyz", ("GET",)),
        Grant("/internal/tenants", ("POST",)),
        Grant("/internal/tenants/*", ("GET",)),
        Grant("/internal/tenants/*/admin-token", ("POST",)),  # seeding a demo shop
        Grant("/internal/tenants/*/usage", ("GET",)),  # catalog, orders: usage vs quotas
        Grant("/internal/tenants/*/data", ("DELETE",)),  # every service: deletionPolicy
    ),
    # The checkout saga: cart lines, prices and stock, the address and the quote.
    "orders": (
        *_verify_tokens(),
        Grant("/internal/shops/*/carts/*", ("GET",)),
        Grant("/internal/shops/*/products/lookup", ("POST",)),
        Grant("/internal/shops/*/reservations/*", ("PUT", "DELETE")),
        Grant("/internal/shops/*/reservations/*/commit", ("POST",)),
        Grant("/internal/shops/*/users/*/addresses/*", ("GET",)),
        Grant("/internal/shops/*/quotes", ("POST",)),
        Grant("/internal/shops/*/settings", ("GET",)),  # the shop's quotas
    ),
    # The order it charges for.
    "payments": (*_verify_tokens(), Grant("/internal/shops/*/orders/*", ("GET",))),
    # Prices and stock of its lines.
    "cart": (*_verify_tokens(), Grant("/internal/shops/*/products/lookup", ("POST",))),
    # The shop's currency and quotas.
    "catalog": (*_verify_tokens(), Grant("/internal/shops/*/settings", ("GET",))),
    # The shop's currency and product weights.
    "shipping": (
        *_verify_tokens(),
        Grant("/internal/shops/*/settings", ("GET",)),
        Grant("/internal/shops/*/products/lookup", ("POST",)),
    ),
    "identity": _verify_tokens(),
    "categories": _verify_tokens(),
    "notifications": _verify_tokens(),
}


def access_control(namespace_of: Callable[[str], str]) -> dict[str, Any]:
    """Dapr's `spec.accessControl`: deny by default, `GRANTS` per caller (in its namespace)."""
    return {
        "defaultAction": "deny",
        "trustDomain": "public",
        "policies": [
            {
                "appId": caller,
                "defaultAction": "deny",
                "namespace": namespace_of(caller),
                "operations": [
                    {"name": grant.path, "httpVerb": list(grant.verbs), "action": "allow"}
                    for grant in grants
                ],
            }
            for caller, grants in GRANTS.items()
        ],
    }
