"""Shop manifests and their secrets, as a platform operator would apply them."""

from __future__ import annotations

import base64
from typing import Any

from shopfleet_operator.crd import API_VERSION

ADMIN_PASSWORD = "admin password 42"


def secret(name: str, namespace: str = "shopfleet", **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {
            k.replace("_", "-"): base64.b64encode(v.encode()).decode() for k, v in data.items()
        },
    }


def shop(name: str, namespace: str = "shopfleet", **spec: Any) -> dict:
    body = {
        "displayName": name.title(),
        "hosts": [f"{name}.example.com"],
        "tier": "shared",
        "currency": "EUR",
        "admin": {
            "email": f"admin@{name}.example.com",
            "passwordSecretRef": {"name": f"{name}-admin", "key": "password"},
        },
    }
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "Shop",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def admin_secret(name: str, namespace: str = "shopfleet") -> dict:
    return secret(f"{name}-admin", namespace, password=ADMIN_PASSWORD)
