"""A small async client of the Kubernetes API (aiohttp), sharing kopf's credentials.

Only what the operator needs: get, list by label, create, merge-patch (optionally with a
resourceVersion precondition, or on the status subresource) and delete.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import kopf

from shopfleet_operator.cache import Manifest, WatchCache, watch_lines


@dataclass(frozen=True)
class Kind:
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "ConfigMap": Kind("v1", "configmaps"),
    "Endpoints": Kind("v1", "endpoints"),
    "Secret": Kind("v1", "secrets"),
    "Service": Kind("v1", "services"),
    "ServiceAccount": Kind("v1", "serviceaccounts"),
    "ResourceQuota": Kind("v1", "resourcequotas"),
    "LimitRange": Kind("v1", "limitranges"),
    "PersistentVolumeClaim": Kind("v1", "persistentvolumeclaims"),
    "Deployment": Kind("apps/v1", "deployments"),
    "Ingress": Kind("networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": Kind("networking.k8s.io/v1", "networkpolicies"),
    "Component": Kind("dapr.io/v1alpha1", "components"),
    "Configuration": Kind("dapr.io/v1alpha1", "configurations"),
    "Resiliency": Kind("dapr.io/v1alpha1", "resiliencies"),
    "Role": Kind("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io/v1", "rolebindings"),
    "Lease": Kind("coordination.k8s.io/v1", "leases"),
    "Shop": Kind("shopfleet.io/v1alpha1", "shops"),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @property
    def temporary(self) -> bool:
        return self.status in (409, 429) or self.status >= 500


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=info.ca_path)
    if info.ca_data:
        context.load_verify_locations(cadata=base64.b64decode(info.ca_data).decode())
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        with (
            tempfile.NamedTemporaryFile("wb", delete=False) as cert_file,
            tempfile.NamedTemporaryFile("wb", delete=False) as key_file,
        ):
            cert_file.write(base64.b64decode(info.certificate_data))
            key_file.write(base64.b64decode(info.private_key_data))
        cert, key = cert_file.name, key_file.name
    if cert:
        context.load_cert_chain(cert, key)
    return context


class Kube:
    """The API client; `connect()` is called by the login handler with kopf's credentials.

    `read` and `list` answer from the watch-fed cache (`cache.py`) when one follows the
    objects asked for; `get` always asks the API server."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._retired: list[aiohttp.ClientSession] = []
        self.writes = 0  # for benchmarks and logs: requests that changed something
        self.cache: WatchCache | None = None

    def connect(self, info: kopf.ConnectionInfo) -> None:
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"Bearer {info.token}"
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
        if self._session is not None:
            self._retired.append(self._session)  # closed with the client
        self._server = (info.server or "").rstrip("/")
        self._session = aiohttp.ClientSession(
            headers=headers,
            auth=auth,
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info)),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        for session in [*self._retired, self._session]:
            if session is not None:
                await session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Manifest | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Manifest:
        if self._session is None:
            raise kopf.TemporaryError("Not connected to the Kubernetes API yet.", delay=1)
        try:
            async with self._session.request(
                method,
                self._server + path,
                json=json,
                params=params,
                headers={"Content-Type": content_type} if json is not None else None,
            ) as answer:
                body = await answer.json(content_type=None) if answer.content_length != 0 else {}
                if answer.status >= 400:
                    message = body.get("message") if isinstance(body, dict) else None
                    raise ApiError(answer.status, message or answer.reason or "")
                return body
        except aiohttp.ClientError as exc:
            raise ApiError(503, f"the API server is unreachable: {exc}") from exc

    async def get(self, kind: str, namespace: str | None, name: str) -> Manifest | None:
        try:
            return await self._request("GET", KINDS[kind].path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def read(
        self, kind: str, namespace: str | None, name: str, labels: dict[str, str]
    ) -> Manifest | None:
        """An object the operator manages (it carries `labels`): from the cache if it
        follows such objects, else from the API server."""
        if self.cache is not None and self.cache.holds(kind, namespace, labels):
            return self.cache.get(kind, namespace, name)
        return await self.get(kind, namespace, name)

    async def raw_list(self, kind: str, namespace: str | None, selector: str) -> Manifest:
        return await self._request(
            "GET", KINDS[kind].path(namespace), params={"labelSelector": selector}
        )

    async def watch(
        self, kind: str, namespace: str | None, selector: str, version: str, seconds: int
    ) -> AsyncIterator[Manifest]:
        """The events of one watch from `version` (the server ends it after `seconds`)."""
        if self._session is None:
            raise ApiError(503, "not connected to the Kubernetes API yet")
        params = {
            "watch": "true",
            "labelSelector": selector,
            "resourceVersion": version,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "true",
        }
        async with self._session.get(
            self._server + KINDS[kind].path(namespace),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=seconds + 30),
        ) as answer:
            if answer.status >= 400:
                raise ApiError(answer.status, answer.reason or "")
            async for event in watch_lines(answer):
                yield event

    async def list(
        self,
        kind: str,
        namespace: str | None,
        labels: dict[str, str],
        fields: dict[str, str] | None = None,
    ) -> list[Manifest]:
        if not fields and self.cache is not None and self.cache.holds(kind, namespace, labels):
            return self.cache.list(kind, namespace, labels)
        params = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())}
        if fields:
            params["fieldSelector"] = ",".join(f"{k}={v}" for k, v in fields.items())
        try:
            body = await self._request("GET", KINDS[kind].path(namespace), params=params)
        except ApiError as exc:
            if exc.status == 404:
                return []
            raise
        items = body.get("items") or []
        # Not every server honours the selector; filter again (labels, and a name).
        return [
            item
            for item in items
            if all(
                item.get("metadata", {}).get("labels", {}).get(k) == v for k, v in labels.items()
            )
            and (fields or {}).get("metadata.name", item["metadata"]["name"])
            == item["metadata"]["name"]
        ]

    async def create(self, obj: Manifest) -> Manifest:
        meta = obj["metadata"]
        self.writes += 1
        made = await self._request("POST", KINDS[obj["kind"]].path(meta.get("namespace")), json=obj)
        self._saw(obj["kind"], meta.get("namespace"), made)
        return made

    def _saw(self, kind: str, namespace: str | None, obj: Manifest | None, name: str = "") -> None:
        if self.cache is not None and (
            obj is None or (isinstance(obj, dict) and obj.get("metadata"))
        ):
            self.cache.saw(kind, namespace, obj, name)

    async def patch(
        self, kind: str, namespace: str | None, name: str, patch: Manifest, *, status: bool = False
    ) -> Manifest:
        path = KINDS[kind].path(namespace, name) + ("/status" if status else "")
        self.writes += 1
        patched = await self._request(
            "PATCH", path, json=patch, content_type="application/merge-patch+json"
        )
        self._saw(kind, namespace, patched)
        return patched

    async def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        try:
            self.writes += 1
            await self._request("DELETE", KINDS[kind].path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                self._saw(kind, namespace, None, name)
                return False
            raise
        self._saw(kind, namespace, None, name)  # (one with finalizers the watch brings back)
        return True
