"""The gateway's hot path: shop resolution, token check, rate limits, forwarding.

A pure ASGI app, not FastAPI routing: every shop request passes here, so it does the
least work that keeps the promises (one dict lookup per resolution step, a cached token
check, two token buckets) and hands the bytes to the owning service via the `Invoker`.
Everything that is not a shop request goes to the platform app (`fallback`).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from shopfleet.gateway.ratelimit import TokenBuckets, retry_after
from shopfleet.gateway.routes import RouteFile
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.routes import Route
from shopfleet.kit.errors import PROBLEM_CONTENT_TYPE, Problem, problem_body
from shopfleet.kit.paths import path_problem, refusal_detail

# First path segment after /api/v1/ -> the service that owns it.
AREAS: dict[str, str] = {
    "auth": "identity",
    "users": "identity",
    "products": "catalog",
    "images": "catalog",
    "categories": "categories",
    "cart": "cart",
    "orders": "orders",
    "payments": "payments",
    "shipping": "shipping",
    "shipments": "shipping",
    "notifications": "notifications",
}

_DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-request-id",
        b"traceparent",
    }
)
# Headers that carry a sidecar's or a service's credentials: a client never sends them on.
_CREDENTIAL_PREFIXES = (b"dapr-", b"x-shopfleet-")
_DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"x-request-id",
    }
)

log = structlog.get_logger("shopfleet.gateway")


class _Reject(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        slug: str | None = None,
    ) -> None:
        self.status, self.detail, self.headers, self.slug = status, detail, headers or {}, slug


class ShopProxy:
    def __init__(
        self,
        settings: GatewaySettings,
        routes: RouteFile,
        invoker: Invoker,
        verifier: TokenVerifier,
        services: frozenset[str],
        fallback: ASGIApp,
        *,
        shop_verifier: Callable[[str, str], TokenVerifier] | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.invoker = invoker
        self.verifier = verifier
        # A dedicated shop's tokens are signed by its own identity: verified with that
        # identity's keys (`shop_verifier(identity app-id, shop)`, one per shop, kept).
        self.shop_verifier = shop_verifier
        self._shop_verifiers: dict[tuple[str, str], TokenVerifier] = {}
        self.services = services
        self.fallback = fallback
        self.client_limits = TokenBuckets(settings.client_rate_per_s, settings.client_burst)
        self.shop_limits = TokenBuckets(settings.shop_rate_per_s, settings.shop_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        # Route on the path as it was sent, once it is known to mean the same to every hop.
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
        raw_path = raw_path.partition(b"?")[0]  # some servers (httpx's ASGI transport) keep it
        problem = path_problem(raw_path)
        if problem is not None:
            await _send_problem(send, 400, refusal_detail(problem), slug="invalid-path")
            return
        path = raw_path.decode("ascii")
        slug: str | None  # None: no shop is served at this host
        if path.startswith("/shops/"):
            slug, _, rest = path[7:].partition("/")
            rest = "/" + rest
        elif path.startswith("/api/"):
            slug, rest = self._shop_of_host(scope), path
            if slug is None:
                await _send_problem(
                    send,
                    404,
                    "No shop is served at this host; use /shops/<shop>/api/v1/... "
                    "or one of the shop's hosts.",
                )
                return
        else:
            await self.fallback(scope, receive, send)
            return
        try:
            await self._forward(scope, receive, send, slug, rest)
        except _Reject as reject:
            await _send_problem(send, reject.status, reject.detail, reject.headers, reject.slug)

    def _shop_of_host(self, scope: Scope) -> str | None:
        for key, value in scope["headers"]:
            if key == b"host":
                return self.routes.table.shop_for_host(
                    value.decode("latin-1").rsplit(":", 1)[0].lower()
                )
        return None

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, slug: str, rest: str
    ) -> None:
        route = self.routes.table.shop(slug)
        if route is None:
            raise _Reject(404, f"There is no shop '{slug}'.", slug="shop-not-found")
        if not rest.startswith("/api/v1/"):
            raise _Reject(404, f"No route {rest}: shop APIs live under /shops/{slug}/api/v1/.")
        area = rest[8:].split("/", 1)[0]
        service = AREAS.get(area)
        if service is None or service not in self.services:
            raise _Reject(404, f"No route /api/v1/{area} in shop '{slug}'. See /docs for the API.")
        state = scope.setdefault("state", {})
        state["route"] = f"/shops/{{shop}}/api/v1/{area}"
        structlog.contextvars.bind_contextvars(shop=slug)
        if route.suspended:
            raise _Reject(
                503, route.suspended_message, {"Retry-After": "3600"}, slug="shop-suspended"
            )

        client = self._client_address(scope)
        wait = self.client_limits.take((slug, client))
        if not wait:
            shop_rate = route.requests_per_minute / 60 if route.requests_per_minute else None
            wait = self.shop_limits.take(slug, shop_rate, route.requests_per_minute)
        if wait:
            raise _Reject(
                429,
                f"Too many requests; retry in {retry_after(wait)} s.",
                {"Retry-After": retry_after(wait)},
            )

        headers: list[tuple[bytes, bytes]] = []
        host = b""
        for key, value in scope["headers"]:
            if key == b"authorization":
                await self._check_token(value, slug, self._verifier_for(route, slug))
            elif key == b"host":
                host = value
            if key not in _DROP_REQUEST and not key.startswith(_CREDENTIAL_PREFIXES):
                headers.append((key, value))
        headers += [
            (b"x-forwarded-for", client.encode()),
            (b"x-forwarded-host", host),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
            (b"x-request-id", state.get("request_id", "").encode()),
            (b"traceparent", state.get("traceparent", "").encode()),
        ]
        body = await self._read_body(scope, receive)
        try:
            answer = await self.invoker.invoke(
                route.app_id(service),
                scope["method"],
                f"/shops/{slug}{rest}",
                body=body,
                headers=headers,
                query=scope["query_string"].decode("latin-1"),
                timeout_s=self.settings.upstream_timeout_s,
            )
        except ServiceUnavailable as exc:
            log.warning("upstream unavailable", service=exc.app_id, reason=exc.reason)
            if exc.timed_out:
                raise _Reject(
                    504, f"The {service} service did not answer in time; retry shortly."
                ) from None
            raise _Reject(
                503, f"The {service} service is unavailable; retry shortly.", {"Retry-After": "5"}
            ) from None
        out = [(k, v) for k, v in answer.headers if k.lower() not in _DROP_RESPONSE]
        out.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})

    def _verifier_for(self, route: Route, slug: str) -> TokenVerifier:
        identity = route.app_id("identity")
        if identity == "identity" or self.shop_verifier is None:
            return self.verifier
        key = (identity, slug)
        if key not in self._shop_verifiers:
            self._shop_verifiers[key] = self.shop_verifier(identity, slug)
        return self._shop_verifiers[key]

    async def _check_token(self, value: bytes, slug: str, verifier: TokenVerifier) -> None:
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reject(
                401,
                "Send the access token as 'Authorization: Bearer <token>'.",
                {"WWW-Authenticate": 'Bearer realm="shopfleet"'},
                slug="unauthenticated",
            )
        try:
            # Ended sessions are refused here; roles are the services' to check.
            principal = await verifier.verify(token.strip(), fresh_roles=False)
        except Problem as problem:
            raise _Reject(problem.status, problem.detail, problem.headers, problem.slug) from None
        if not principal.may_act_in(slug):
            # A token of another shop: nothing of this shop exists for it.
            raise _Reject(404, f"Nothing here for this credential in shop '{slug}'.")

    def _client_address(self, scope: Scope) -> str:
        # The server already replaced the peer by the forwarded client when the peer is
        # one of the trusted proxies (kit/server.py); nobody else can choose it.
        client = scope.get("client")
        return client[0] if client else "unknown"

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                raise _Reject(413, f"The request body is larger than {limit} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Reject(413, f"The request body is larger than {limit} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _send_problem(
    send: Send,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    slug: str | None = None,
) -> None:
    body = problem_body(status, detail, slug=slug)
    raw = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
