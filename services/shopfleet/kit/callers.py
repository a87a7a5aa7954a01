"""Who may call a service app: its own sidecar, and on internal routes only another service.

Two independent locks (DESIGN §5), so that one mistake is not enough:

- **The app API token.** In Dapr mode every call into an app comes through its own sidecar,
  and daprd proves itself with the `dapr-api-token` header (the `APP_API_TOKEN` the sidecar
  injector sets from the `dapr.io/app-token-secret` annotation). `CallerGuard` refuses
  everything else, `/dapr/subscribe` and `/dapr/events/*` included. The probes kubelet
  makes directly (`/healthz`, `/readyz`) stay open; metrics have a port of their own.
- **The service credential.** Service-to-service routes (`/internal/shops/...`) also need
  `x-shopfleet-service-token`, which services add to their calls
  (`ServiceCredentialInvoker`) and the gateway never forwards from a client. In Dapr mode,
  without a configured credential those routes refuse every call (they fail closed); with
  local blocks the apps are reachable in-process only, and the embedded platform makes a
  credential of its own anyway.

The platform's own internal routes (`/internal/tenants`, `/internal/routes`) take the
platform credential instead (`kit.auth.PlatformCaller`).
"""

from __future__ import annotations

import hmac
from dataclasses import replace

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from shopfleet.kit.auth import SERVICE_TOKEN_HEADER as SERVICE_TOKEN
from shopfleet.kit.blocks import Blocks, Invoker
from shopfleet.kit.blocks.ports import Headers, InvokeResponse
from shopfleet.kit.errors import PROBLEM_CONTENT_TYPE, problem_body

log = structlog.get_logger("shopfleet.callers")

APP_TOKEN_HEADER = b"dapr-api-token"
SERVICE_TOKEN_HEADER = SERVICE_TOKEN.encode()
SERVICE_ROUTES_PREFIX = "/internal/shops/"
DIRECT_PATHS = frozenset({"/healthz", "/readyz"})  # kubelet's probes (metrics: own port)


class CallerGuard:
    """ASGI middleware of every service app: the app token, then the service credential."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        app_token: str | None,
        service_token: str | None,
        fail_closed: bool = True,
    ) -> None:
        self.app = app
        self.fail_closed = fail_closed
        self.app_token = app_token.encode() if app_token else None
        self.service_token = service_token.encode() if service_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if (
            self.app_token is not None
            and path not in DIRECT_PATHS
            and not _carries(scope, APP_TOKEN_HEADER, self.app_token)
        ):
            await _refuse(
                send, 401, "This app accepts calls only from its own Dapr sidecar.", "sidecar-only"
            )
            return
        if path.startswith(SERVICE_ROUTES_PREFIX):
            refusal = self._service_refusal(scope)
            if refusal is not None:
                await _refuse(send, *refusal, "service-only")
                return
        await self.app(scope, receive, send)

    def _service_refusal(self, scope: Scope) -> tuple[int, str] | None:
        if self.service_token is None:
            if not self.fail_closed:
                return None  # local blocks: reachable in-process only
            return 403, (
                "Service-to-service routes are closed: no service credential is configured "
                "(SHOPFLEET_SERVICE_TOKEN)."
            )
        if not _carries(scope, SERVICE_TOKEN_HEADER, self.service_token):
            return 401, "This route is for other services of the platform only."
        return None


def _carries(scope: Scope, name: bytes, expected: bytes) -> bool:
    for key, value in scope["headers"]:
        if key == name:
            return hmac.compare_digest(value, expected)
    return False


async def _refuse(send: Send, status: int, detail: str, slug: str) -> None:
    body = problem_body(status, detail, slug=slug)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceCredentialInvoker(Invoker):
    """An invoker that adds the service credential to calls of service-to-service routes.

    Services get it; the gateway does not, so nothing it forwards can carry the credential.
    """

    def __init__(self, inner: Invoker, token: str) -> None:
        self.inner = inner
        self._header = (SERVICE_TOKEN_HEADER, token.encode())

    async def invoke(
        self,
        app_id: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Headers = (),
        query: str = "",
        timeout_s: float | None = None,
    ) -> InvokeResponse:
        if path.startswith(SERVICE_ROUTES_PREFIX):
            headers = [*headers, self._header]
        return await self.inner.invoke(
            app_id, method, path, body=body, headers=headers, query=query, timeout_s=timeout_s
        )

    async def close(self) -> None:
        await self.inner.close()


def service_blocks(blocks: Blocks, service_token: str | None) -> Blocks:
    """The blocks a service is built with: its calls carry the service credential."""
    if service_token is None:
        return blocks
    return replace(blocks, invoker=ServiceCredentialInvoker(blocks.invoker, service_token))
