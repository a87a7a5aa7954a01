"""A small async client of the Kubernetes API (aiohttp), for the controllers, node and tests.

    async with KubeClient(url, token=..., ca_path=...) as kube:
        await kube.get("v1", "pods", "web-0", namespace="shop")
        await kube.list("apps/v1", "deployments", namespace="shop", label_selector="a=b")
        async for event_type, obj in kube.watch("v1", "pods"): ...
        await kube.create(obj); await kube.apply(obj); await kube.replace(obj)
        await kube.patch("v1", "pods", name, {"metadata": {...}}, namespace="shop")
        await kube.delete("v1", "pods", name, namespace="shop")
        await kube.patch_status(obj, {"phase": "Running"})

It speaks plain HTTP (today's emulator) or HTTPS with a CA file and a bearer token (the
grown API server, or a real cluster). Errors are `ApiError` carrying the server's Status.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

# Kinds whose plural is not simply lower-case + "s".
_PLURALS = {
    "Endpoints": "endpoints",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "CustomResourceDefinition": "customresourcedefinitions",
    "PodSecurityPolicy": "podsecuritypolicies",
    "StorageClass": "storageclasses",
    "IngressClass": "ingressclasses",
    "PriorityClass": "priorityclasses",
    "Resiliency": "resiliencies",
    "LimitRange": "limitranges",
}


def plural_of(kind: str) -> str:
    if kind in _PLURALS:
        return _PLURALS[kind]
    low = kind.lower()
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    return low + "s"


class ApiError(Exception):
    def __init__(self, status: int, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.body = body if isinstance(body, dict) else {"message": str(body)}
        self.reason = self.body.get("reason", "")
        self.message = self.body.get("message", str(body))
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}")


def base_path(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def resource_path(
    api_version: str,
    plural: str,
    name: str | None = None,
    namespace: str | None = None,
    subresource: str | None = None,
) -> str:
    path = base_path(api_version)
    if namespace is not None:
        path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name)}"
    if subresource:
        path += f"/{subresource}"
    return path


def ref_of(obj: dict) -> tuple[str, str, str, str | None]:
    """(apiVersion, plural, name, namespace) of an object."""
    meta = obj["metadata"]
    return obj["apiVersion"], plural_of(obj["kind"]), meta.get("name", ""), meta.get("namespace")


class KubeClient:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_path: str | Path | None = None,
        client_cert: tuple[str | Path, str | Path] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = str(url).rstrip("/")
        self.token = token
        self.ca_path = Path(ca_path) if ca_path else None
        self.client_cert = client_cert  # (certificate, key) files: kind's kubeconfig
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        ssl_ctx: ssl.SSLContext | bool = False
        if self.url.startswith("https://"):
            ssl_ctx = ssl.create_default_context(cafile=str(self.ca_path) if self.ca_path else None)
            if self.client_cert:
                ssl_ctx.load_cert_chain(*map(str, self.client_cert))
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=50),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- raw ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        assert self._session is not None, "KubeClient is not open"
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(
            method,
            self.url + path,
            data=data,
            params=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            if resp.status >= 400:
                raise ApiError(resp.status, payload, method, path)
            return payload

    # ---- verbs ----------------------------------------------------------------------------

    async def get(
        self,
        api_version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict | None:
        try:
            return await self.request(
                "GET", resource_path(api_version, plural, name, namespace, subresource)
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list_with_version(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        answer = await self.request(
            "GET", resource_path(api_version, plural, namespace=namespace), params=params
        )
        kind = (answer.get("kind") or "").removesuffix("List")
        items = answer.get("items") or []
        for item in items:  # a real server leaves these out of list items
            item.setdefault("apiVersion", api_version)
            if kind:
                item.setdefault("kind", kind)
        return items, (answer.get("metadata") or {}).get("resourceVersion", "")

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        items, _ = await self.list_with_version(
            api_version, plural, namespace, label_selector, field_selector
        )
        return items

    async def watch(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[tuple[str, dict]]:
        """Events forever: without `resource_version`, first an ADDED for every listed
        object, then the changes. Reconnects where it left off; re-lists on 410 Gone."""
        assert self._session is not None, "KubeClient is not open"
        rv = resource_version
        while True:
            if rv is None:
                items, rv = await self.list_with_version(
                    api_version, plural, namespace, label_selector, field_selector
                )
                for item in items:
                    yield "ADDED", item
            params = {"watch": "true", "allowWatchBookmarks": "true"}
            if rv:
                params["resourceVersion"] = rv
            if label_selector:
                params["labelSelector"] = label_selector
            if field_selector:
                params["fieldSelector"] = field_selector
            path = resource_path(api_version, plural, namespace=namespace)
            try:
                async with self._session.get(
                    self.url + path,
                    params=params,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                ) as resp:
                    if resp.status == 410:
                        rv = None
                        continue
                    if resp.status >= 400:
                        raise ApiError(resp.status, await resp.text(), "WATCH", path)
                    async for line in resp.content:
                        line = line.strip()
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                rv = None
                                break
                            raise ApiError(obj.get("code", 500), obj, "WATCH", path)
                        new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                        if new_rv:
                            rv = new_rv
                        if event.get("type") == "BOOKMARK":
                            continue
                        yield event["type"], obj
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                pass
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.5)

    async def create(self, obj: dict) -> dict:
        api_version, plural, _, namespace = ref_of(obj)
        return await self.request(
            "POST", resource_path(api_version, plural, namespace=namespace), body=obj
        )

    async def replace(self, obj: dict) -> dict:
        api_version, plural, name, namespace = ref_of(obj)
        return await self.request(
            "PUT", resource_path(api_version, plural, name, namespace), body=obj
        )

    async def apply(self, obj: dict) -> dict:
        """Create, or replace what exists (as `kubectl apply` of a whole object would).
        Falls back to a merge patch where the server takes no PUT (today's emulator)."""
        try:
            return await self.create(obj)
        except ApiError as exc:
            if exc.status != 409:
                raise
        api_version, plural, name, namespace = ref_of(obj)
        current = await self.get(api_version, plural, name, namespace)
        if current is None:
            return await self.create(obj)
        new = json.loads(json.dumps(obj))
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            return await self.replace(new)
        except ApiError as exc:
            if exc.status != 405:
                raise
        patch = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
        return await self.patch(api_version, plural, name, patch, namespace=namespace)

    async def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> dict:
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[patch_type]
        return await self.request(
            "PATCH",
            resource_path(api_version, plural, name, namespace, subresource),
            body=patch,
            content_type=content_type,
        )

    async def patch_status(self, obj_ref: Any, status: dict) -> dict:
        """Merge `status` into the object's status subresource. `obj_ref` is the object
        itself or (apiVersion, plural, name, namespace)."""
        if isinstance(obj_ref, dict):
            obj_ref = ref_of(obj_ref)
        api_version, plural, name, namespace = obj_ref
        return await self.patch(
            api_version, plural, name, {"status": status}, namespace, subresource="status"
        )

    async def delete(
        self,
        api_version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        missing_ok: bool = True,
    ) -> dict | None:
        params = {}
        if grace_period_seconds is not None:
            params["gracePeriodSeconds"] = str(grace_period_seconds)
        try:
            return await self.request(
                "DELETE",
                resource_path(api_version, plural, name, namespace),
                params=params or None,
            )
        except ApiError as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise


# ---- label selectors (Deployments, Services, NetworkPolicies) ---------------------------------


def map_selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """A Service's selector (a plain map). Empty or missing selects nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())
