"""`DaprSecrets`: per-shop secrets from a Dapr secret store (Kubernetes Secrets in a cluster).

Layout: one Kubernetes Secret per shop, named `shop-<shop>`, with one key per secret
(`stripe_secret_key`, `stripe_webhook_secret`, ...: kit/contracts/secrets.py). That is what
the operator creates for a shop (`kubectl create secret generic shop-acme
--from-literal=stripe_secret_key=...`), what
RBAC and rotation handle as one object per tenant, and what Dapr's `secretstores.kubernetes`
returns for `GetSecret(key="shop-acme")`: the Secret's whole data map. A secret that is not
set is `None` whether the shop's Secret is missing or only lacks that key.

daprd answers a missing Secret with gRPC `INTERNAL` ("failed getting secret with key
shop-acme from secret store secretstore: secrets \"shop-acme\" not found"); other errors
(store not configured, sidecar down) are raised.
"""

from __future__ import annotations

import asyncio

import grpc

from shopfleet.kit.blocks.dapr.sidecar import DaprSidecar
from shopfleet.kit.blocks.ports import Secrets
from shopfleet.kit.contracts.secrets import PLATFORM_SCOPE, PLATFORM_SECRET, SHOP_SECRET_NAME

SECRET_NAME = SHOP_SECRET_NAME


def secret_name(shop: str) -> str:
    """The Kubernetes Secret holding `shop`'s secrets (or the platform's own, kit/contracts)."""
    if shop == PLATFORM_SCOPE:
        return PLATFORM_SECRET
    return SECRET_NAME.format(shop=shop)


class DaprSecrets(Secrets):
    def __init__(self, sidecar: DaprSidecar, store_name: str = "secretstore") -> None:
        self.sidecar = sidecar
        self.store_name = store_name
        self._closed = False
        sidecar.acquire()

    async def get(self, shop: str, name: str) -> str | None:
        if not shop or not name:
            raise ValueError("shop and name must not be empty")
        client = await self.sidecar.client()
        try:
            async with asyncio.timeout(self.sidecar.call_timeout_s):
                response = await client.get_secret(self.store_name, secret_name(shop))
        except grpc.aio.AioRpcError as exc:
            if _not_found(exc):
                return None
            raise
        return response.secret.get(name)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.sidecar.release()


def _not_found(exc: grpc.aio.AioRpcError) -> bool:
    if exc.code() is grpc.StatusCode.NOT_FOUND:
        return True
    return exc.code() is grpc.StatusCode.INTERNAL and "not found" in (exc.details() or "")
