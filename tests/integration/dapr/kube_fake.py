"""A tiny in-memory stand-in for the simulated cluster's `KubeClient`
(tests/support/cluster/client.py): only `get`, `list` and `apply`, which is all the Dapr
injector uses. These tests judge what a sidecar loads from given objects, one sidecar at a
time; the injector on the real API server, with admission and RBAC, is proven by
tests/cluster (every pod of the chart and of a dedicated shop)."""

from __future__ import annotations

import copy
from typing import Any

PLURALS = {
    "Component": "components",
    "Configuration": "configurations",
    "Resiliency": "resiliencies",
    "Subscription": "subscriptions",
    "Secret": "secrets",
    "Service": "services",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
}


class FakeKube:
    def __init__(self, objects: list[dict] | None = None) -> None:
        self.objects: dict[tuple[str, str, str | None, str], dict] = {}
        for obj in objects or []:
            self.put(obj)

    @staticmethod
    def _key(obj: dict) -> tuple[str, str, str | None, str]:
        plural = PLURALS.get(obj["kind"], obj["kind"].lower() + "s")
        meta = obj["metadata"]
        return obj["apiVersion"], plural, meta.get("namespace"), meta["name"]

    def put(self, obj: dict) -> None:
        self.objects[self._key(obj)] = copy.deepcopy(obj)

    async def get(
        self, api_version: str, plural: str, name: str, namespace: str | None = None
    ) -> dict | None:
        found = self.objects.get((api_version, plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        return [
            copy.deepcopy(obj)
            for (version, kind, ns, _), obj in sorted(self.objects.items(), key=lambda i: i[0][3])
            if version == api_version and kind == plural and (namespace is None or ns == namespace)
        ]

    async def apply(self, obj: dict) -> Any:
        self.put(obj)
        return copy.deepcopy(obj)

    async def create(self, obj: dict) -> Any:
        return await self.apply(obj)
