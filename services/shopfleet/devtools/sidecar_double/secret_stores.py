"""The secret stores a double reads: `secretstores.kubernetes` (the Kubernetes API with the
pod's token) and its own JSON file for `shopfleet dev`."""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from urllib.parse import quote

import aiohttp
import orjson

from shopfleet.devtools.sidecar_double.errors import ComponentLoadError, SecretNotFound

SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubernetesSecretStore:
    """`secretstores.kubernetes`: Secrets read through the Kubernetes API with the pod's
    ServiceAccount token (in-cluster configuration, as client-go's `InClusterConfig`)."""

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        serviceaccount_dir: Path = SERVICEACCOUNT_DIR,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.serviceaccount_dir = serviceaccount_dir
        self.environ = dict(os.environ if environ is None else environ)
        self._http: aiohttp.ClientSession | None = None
        self._base = ""
        self._token_path = serviceaccount_dir / "token"

    async def open(self) -> None:
        host = self.environ.get("KUBERNETES_SERVICE_HOST")
        port = self.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise ComponentLoadError(
                "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                "KUBERNETES_SERVICE_PORT must be defined"
            )
        if not self._token_path.exists():
            raise ComponentLoadError(f"open {self._token_path}: no such file or directory")
        ca = self.serviceaccount_dir / "ca.crt"
        context = ssl.create_default_context(cafile=str(ca)) if ca.exists() else None
        if context is None:
            raise ComponentLoadError(f"open {ca}: no such file or directory")
        host = f"[{host}]" if ":" in host else host
        self._base = f"https://{host}:{port}"
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            timeout=aiohttp.ClientTimeout(total=10),
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def get(self, secret: str, namespace: str | None = None) -> dict[str, str]:
        assert self._http is not None
        ns = namespace or self.namespace
        token = self._token_path.read_text().strip()  # re-read: projected tokens rotate
        url = f"{self._base}/api/v1/namespaces/{quote(ns)}/secrets/{quote(secret)}"
        async with self._http.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
            body = await r.json(content_type=None)
            if r.status == 404:
                raise SecretNotFound(f'secrets "{secret}" not found')
            if r.status != 200:
                message = body.get("message") if isinstance(body, dict) else body
                raise PermissionError(f"{r.status}: {message}")
        return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}


class FileSecretStore:
    """The double's own store for `shopfleet dev`: a JSON file of Secrets, re-read per call."""

    def __init__(self, name: str, path: Path | None) -> None:
        self.name = name
        self.path = path

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, secret: str, namespace: str | None = None) -> dict[str, str]:
        if self.path is None or not self.path.exists():
            raise SecretNotFound(f'secrets "{secret}" not found')
        found = orjson.loads(self.path.read_bytes()).get(secret)
        if not isinstance(found, dict):
            raise SecretNotFound(f'secrets "{secret}" not found')
        return {k: str(v) for k, v in found.items()}


SecretStore = KubernetesSecretStore | FileSecretStore
