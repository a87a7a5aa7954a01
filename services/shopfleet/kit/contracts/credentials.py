"""The credentials of a dedicated shop's namespace, derived from the platform's (issue 12).

A dedicated shop runs in a namespace of its own, which must never hold the platform
credential (it opens every shop's internal routes). The operator gives the shop's pods
credentials derived from it instead, and whoever holds the platform credential (the
gateway) derives the same ones to call them: HMAC-SHA256 keyed by the platform token over
`<shop>/<purpose>`. Stable (nothing to store or read back), different per shop and purpose,
and revealing nothing of the platform token.
"""

from __future__ import annotations

import hashlib
import hmac

# Purposes (also the keys of the shop's callers Secret, `shop-<shop>-callers`).
APP_TOKEN = "app-token"  # each sidecar → its app (Dapr's app-token-secret, key `token`)
SERVICE_TOKEN = "service-token"  # the shop's services → each other (internal routes)
# The gateway → the shop's identity's platform endpoints (tenant bootstrap, admin token):
# the shop's identity takes it as its SHOPFLEET_PLATFORM_TOKEN.
SHOP_PLATFORM_CREDENTIAL = "platform-token"


def derived_credential(platform_token: str, shop: str, purpose: str) -> str:
    """The credential of `shop` for `purpose`, derived from the platform token."""
    message = f"{shop}/{purpose}".encode()
    return hmac.new(platform_token.encode(), message, hashlib.sha256).hexdigest()
