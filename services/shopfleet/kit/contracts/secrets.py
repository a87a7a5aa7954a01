"""Names in the secrets block (the `Secrets` port), defined once for every part.

A shop's secrets live under the shop's slug (in a cluster the Kubernetes Secret
`shop-<shop>`; the Stripe key names are payments' own). The platform's own secrets live
under `PLATFORM_SCOPE`, which is no valid shop slug, so no shop can name it; in a cluster
that scope is the Kubernetes Secret `PLATFORM_SECRET`.
"""

from __future__ import annotations

PLATFORM_SCOPE = "_platform"
PLATFORM_SECRET = "shopfleet-platform"

# Identity's signing keys are stored encrypted under this key (32 random bytes, base64url).
# Embedded: generated into the local secrets file (0600) on first start. Cluster: the key
# `signing_key_encryption_key` of the Secret `shopfleet-platform`, e.g.
#   kubectl create secret generic shopfleet-platform \
#     --from-literal=signing_key_encryption_key=$(python -c \
#       'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
SIGNING_KEY_ENCRYPTION_KEY = "signing_key_encryption_key"
