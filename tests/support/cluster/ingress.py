"""The simulated cluster's ingress controller: Ingress rules by host and path, to Endpoints.

It listens on the machine's loopback (tests connect there with the shop's host in `Host`),
reads the Ingresses and Endpoints from the API on every request (a handful of objects; no
cache to go stale), and forwards to a ready endpoint's pod IP, which the machine reaches
over the node's bridge. Like ingress-nginx it sets X-Forwarded-For/-Host/-Proto, answers
404 for a host no rule names and 503 when the backend has no ready endpoint.

It also listens for TLS (`tls_url`): an Ingress's `tls` entries give their hosts the
certificate of the named `kubernetes.io/tls` Secret, chosen by SNI (the Ingresses and
Secrets are re-read every second: a handshake cannot wait for the API). A server
name no `tls` entry names fails the handshake (unrecognized_name). Unlike ingress-nginx,
plain http is not redirected to https for those hosts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp.web

log = logging.getLogger(__name__)
TLS_REFRESH_S = 1.0
Lister = Callable[[str, str, str | None], Awaitable[list[dict[str, Any]]]]
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def _host_matches(rule_host: str | None, host: str) -> bool:
    if not rule_host:
        return True
    if rule_host.startswith("*."):
        suffix = rule_host[1:]
        return host.endswith(suffix) and "." not in host[: -len(suffix)]
    return rule_host == host


def _path_matches(path_rule: dict[str, Any], path: str) -> int:
    """The length of the match (longest wins), or -1."""
    wanted = path_rule.get("path") or "/"
    kind = path_rule.get("pathType", "Prefix")
    if kind == "Exact":
        return len(wanted) if path == wanted else -1
    prefix = wanted.rstrip("/")
    if path == prefix or path.startswith(prefix + "/") or not prefix:
        return len(prefix)
    return -1


def choose_backend(
    ingresses: list[dict[str, Any]], host: str, path: str
) -> tuple[str, dict[str, Any]] | None:
    """(namespace, backend.service) of the best rule for host + path, as ingress-nginx picks:
    an exact host before a wildcard before none, then the longest path."""
    best: tuple[tuple[int, int], str, dict[str, Any]] | None = None
    for ingress in ingresses:
        namespace = ingress["metadata"]["namespace"]
        spec = ingress.get("spec") or {}
        for rule in spec.get("rules") or []:
            rule_host = rule.get("host")
            if not _host_matches(rule_host, host):
                continue
            specificity = 2 if rule_host == host else (1 if rule_host else 0)
            for path_rule in (rule.get("http") or {}).get("paths") or []:
                length = _path_matches(path_rule, path)
                if length < 0:
                    continue
                rank = (specificity, length)
                if best is None or rank > best[0]:
                    best = (rank, namespace, path_rule["backend"]["service"])
        default = (spec.get("defaultBackend") or {}).get("service")
        if default and (best is None or best[0] < (0, -1)):
            best = ((0, -1), namespace, default)
    return (best[1], best[2]) if best else None


def ready_address(endpoints: dict[str, Any] | None, port: dict[str, Any]) -> list[tuple[str, int]]:
    """Every ready (ip, port) of an Endpoints object for the Service port named or numbered."""
    out: list[tuple[str, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        chosen = None
        for candidate in ports:
            by_name = "name" in port and candidate.get("name") == port["name"]
            by_number = "number" in port and candidate.get("port") == port["number"]
            if by_name or by_number:
                chosen = candidate
        if chosen is None and len(ports) == 1:
            chosen = ports[0]
        if chosen is None:
            continue
        out.extend((address["ip"], chosen["port"]) for address in subset.get("addresses") or [])
    return out


class Ingress:
    """`async with Ingress(get_ingresses, get_endpoints, get_service) as ingress:` then
    `ingress.url`; requests carry the shop's host in `Host`."""

    def __init__(
        self,
        list_ingresses: Callable[[], Awaitable[list[dict[str, Any]]]],
        get_service: Callable[[str, str], Awaitable[dict[str, Any] | None]],
        get_endpoints: Callable[[str, str], Awaitable[dict[str, Any] | None]],
        *,
        get_secret: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._list_ingresses = list_ingresses
        self._get_service = get_service
        self._get_endpoints = get_endpoints
        self._get_secret = get_secret
        self._host = host
        self._turn = itertools.count()
        self._runner: aiohttp.web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        self.tls_port = 0
        # Server name → the context with its certificate; (namespace, Secret, version) → it.
        self._by_host: dict[str, ssl.SSLContext] = {}
        self._by_secret: dict[tuple[str, str, str], ssl.SSLContext] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._keys = tempfile.TemporaryDirectory(prefix="ingress-tls-")

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://{self._host}:{self.tls_port}"

    async def __aenter__(self) -> Ingress:
        app = aiohttp.web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = aiohttp.web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self._get_secret is not None:
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.sni_callback = self._choose_certificate
            tls_site = aiohttp.web.TCPSite(self._runner, self._host, 0, ssl_context=server)
            await tls_site.start()
            self.tls_port = tls_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._refresher = asyncio.create_task(self._refresh_certificates())
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._keys.cleanup()

    def _choose_certificate(
        self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        context = self._by_host.get((server_name or "").lower())
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = context
        return None

    async def _refresh_certificates(self) -> None:
        while True:
            try:
                self._by_host = await self._certificates()
            except Exception:  # the API restarting, say: keep the last ones
                log.exception("reading the Ingresses' TLS Secrets")
            await asyncio.sleep(TLS_REFRESH_S)

    async def _certificates(self) -> dict[str, ssl.SSLContext]:
        assert self._get_secret is not None
        found: dict[str, ssl.SSLContext] = {}
        for ingress in await self._list_ingresses():
            namespace = ingress["metadata"]["namespace"]
            for entry in (ingress.get("spec") or {}).get("tls") or []:
                name = entry.get("secretName")
                secret = await self._get_secret(namespace, name) if name else None
                context = self._context_of(namespace, secret) if secret else None
                if context is not None:
                    found.update((host.lower(), context) for host in entry.get("hosts") or [])
        return found

    def _context_of(self, namespace: str, secret: dict[str, Any]) -> ssl.SSLContext | None:
        meta = secret["metadata"]
        key = (namespace, meta["name"], meta.get("resourceVersion", ""))
        if key not in self._by_secret:
            data = secret.get("data") or {}
            if "tls.crt" not in data or "tls.key" not in data:
                return None
            stem = f"{self._keys.name}/{namespace}.{meta['name']}.{key[2]}"
            with open(f"{stem}.crt", "wb") as cert, open(f"{stem}.key", "wb") as private:
                cert.write(base64.b64decode(data["tls.crt"]))
                private.write(base64.b64decode(data["tls.key"]))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(f"{stem}.crt", f"{stem}.key")
            self._by_secret[key] = context
        return self._by_secret[key]

    async def _target(self, host: str, path: str) -> tuple[str, int] | str:
        chosen = choose_backend(await self._list_ingresses(), host, path)
        if chosen is None:
            return f"no Ingress rule for host {host!r} and path {path!r}"
        namespace, backend = chosen
        service = await self._get_service(namespace, backend["name"])
        if service is None:
            return f"the backend Service {namespace}/{backend['name']} does not exist"
        wanted = backend.get("port") or {}
        port: dict[str, Any] = {}
        for candidate in (service.get("spec") or {}).get("ports") or []:
            if candidate.get("name") == wanted.get("name") or candidate.get("port") == wanted.get(
                "number"
            ):
                port = (
                    {"name": candidate["name"]}
                    if candidate.get("name")
                    else {"number": candidate.get("targetPort", candidate["port"])}
                )
        addresses = ready_address(await self._get_endpoints(namespace, backend["name"]), port)
        if not addresses:
            return f"the Service {namespace}/{backend['name']} has no ready endpoint"
        return addresses[next(self._turn) % len(addresses)]

    async def _forward(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        host = (request.headers.get("host") or "").split(":")[0].lower()
        target = await self._target(host, request.path)
        if isinstance(target, str):
            status = 404 if target.startswith("no Ingress") else 503
            return aiohttp.web.Response(status=status, text=target + "\n")
        ip, port = target
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = request.headers.get("host", host)
        peer = request.remote or "127.0.0.1"
        prior = request.headers.get("x-forwarded-for")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        headers["X-Forwarded-Host"] = host
        headers["X-Forwarded-Proto"] = "https" if request.secure else "http"
        assert self._session is not None
        url = f"http://{ip}:{port}{request.raw_path}"
        body = await request.read()
        try:
            async with self._session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            ) as upstream:
                response = aiohttp.web.Response(
                    status=upstream.status,
                    body=await upstream.read(),
                    headers={
                        k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
                    },
                )
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            return aiohttp.web.Response(status=502, text=f"upstream {ip}:{port}: {exc!r}\n")
