"""Names in the secrets block (the `Secrets` port), defined once for every part.

A shop's secrets live under the shop's slug (in a cluster the Kubernetes Secret
`SHOP_SECRET_NAME`, which the operator writes and payments reads through the Dapr secret
store: both take the names below from here). The platform's own secrets live
under `PLATFORM_SCOPE`, which is no valid shop slug, so no shop can name it; in a cluster
that scope is the Kubernetes Secret `PLATFORM_SECRET`.
"""

from __future__ import annotations

PLATFORM_SCOPE = "_platform"
PLATFORM_SECRET = "shopfleet-platform"

# A shop's secrets in a cluster: one Kubernetes Secret per shop, in the namespace its
# services run in (the platform's for the shared tier, `shop-<shop>` for a dedicated one).
SHOP_SECRET_NAME = "shop-{shop}"

# A shop's own Stripe account: its secret key and the secret that signs its webhooks. The
# operator copies them from the Secrets the Shop names (spec.payments.stripeSecretRef,
# webhookSecretRef); payments uses them instead of the platform's account.
STRIPE_SECRET_KEY = "stripe_secret_key"
STRIPE_WEBHOOK_SECRET = "stripe_webhook_secret"

# Identity's signing keys are stored encrypted under this key (32 random bytes, base64url).
# Embedded: generated into the local secrets file (0600) on first start. Cluster: the key
# `signing_key_encryption_key` of the Secret `shopfleet-platform`, e.g.
#   kubectl create secret generic shopfleet-platform \
#     --from-literal=signing_key_encryption_key=$(python -c \
#       'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
SIGNING_KEY_ENCRYPTION_KEY = "signing_key_encryption_key"
