"""The service-invocation building block's HTTP API: `/v1.0/invoke/<app-id>/method/...`
from this double's own app, and `/_peer/<app-id>/method/...` from another double (the
stand-in for daprd's mTLS hop), access control, and the forwarding itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from yarl import URL

from shopfleet.devtools.sidecar_double.config import (
    APP_TOKEN_HEADER,
    CALLER_NAMESPACE_HEADER,
    HOP_BY_HOP,
    PEER_HEADER,
)

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble


def add_invoke_routes(app: web.Application, double: SidecarDouble) -> None:
    async def invoke(request: web.Request) -> web.StreamResponse:
        """A call from this double's own app: to itself, or on to the target's double."""
        app_id = request.match_info["app_id"]
        # The path (and query) as the caller encoded it: forwarded byte for byte, never
        # decoded, re-encoded or cleaned of dot segments on the way.
        path = _method_path(request, f"/v1.0/invoke/{app_id}/method")
        if path is None:
            return _invoke_error(app_id, f"not an invocation path: {request.raw_path!r}")
        base = await double.resolve(app_id)
        if base is None:
            return _invoke_error(app_id, "app id not found")
        headers = _passed_on(request)
        if double.is_own(app_id):
            return await _deliver(request, double, path, headers)
        # As daprd over mTLS: the caller's identity is this double's, never a header's.
        headers += [
            (PEER_HEADER, double.peer_secret),
            ("dapr-caller-app-id", double.config.app_id),
            (CALLER_NAMESPACE_HEADER, double.config.namespace),
        ]
        target = app_id.partition(".")[0]
        return await _forward(
            request, double, app_id, f"{base}/_peer/{target}/method{path}", headers
        )

    async def peer_invoke(request: web.Request) -> web.StreamResponse:
        """A call from another double for this double's app: access control, then the app."""
        app_id = request.match_info["app_id"]
        if request.headers.get(PEER_HEADER) != double.peer_secret or app_id != double.config.app_id:
            return _invoke_error(app_id, "not a sidecar of this cluster", status=401)
        path = _method_path(request, f"/_peer/{app_id}/method")
        if path is None:
            return _invoke_error(app_id, f"not an invocation path: {request.raw_path!r}")
        caller = request.headers.get("dapr-caller-app-id", "")
        namespace = request.headers.get(CALLER_NAMESPACE_HEADER, "")
        operation = path.split("?", 1)[0]
        if not double.config.access_control.allows(caller, namespace, request.method, operation):
            return _invoke_error(
                app_id,
                "rpc error: code = PermissionDenied desc = access control policy has denied "
                f"access to appid: {caller} operation: {operation} verb: {request.method}",
                status=403,
            )
        headers = [(k, v) for k, v in _passed_on(request) if k.lower() != PEER_HEADER]
        headers += [("dapr-caller-app-id", caller), (CALLER_NAMESPACE_HEADER, namespace)]
        return await _deliver(request, double, path, headers)

    app.router.add_route("*", "/v1.0/invoke/{app_id}/method/{path:.*}", invoke)
    app.router.add_route("*", "/_peer/{app_id}/method/{path:.*}", peer_invoke)


# Headers a caller must not set itself: the double sets them from what it knows.
_SIDECAR_SET = {APP_TOKEN_HEADER, "dapr-caller-app-id", "dapr-callee-app-id"}


def _method_path(request: web.Request, prefix: str) -> str | None:
    raw = request.raw_path
    return raw[len(prefix) :] if raw.startswith(prefix + "/") else None


def _passed_on(request: web.Request) -> list[tuple[str, str]]:
    return [
        (k, v)
        for k, v in request.headers.items()
        if k.lower() not in HOP_BY_HOP
        and k.lower() not in _SIDECAR_SET
        and k.lower() != CALLER_NAMESPACE_HEADER
    ]


async def _deliver(
    request: web.Request, double: SidecarDouble, path: str, headers: list[tuple[str, str]]
) -> web.StreamResponse:
    """Hand the call to this double's own app, as daprd does: with the app API token."""
    app_id = double.config.app_id
    if double.config.app_port is None:
        return _invoke_error(app_id, "app id not found")
    headers = [*headers, ("dapr-callee-app-id", app_id)]
    if double.config.app_token:
        headers.append((APP_TOKEN_HEADER, double.config.app_token))
    if double.config.record_invocations:
        await double.record_invocation(request.method, path)
    url = f"http://{double.config.app_host}:{double.config.app_port}{path}"
    return await _forward(request, double, app_id, url, headers)


async def _forward(
    request: web.Request,
    double: SidecarDouble,
    app_id: str,
    url: str,
    headers: list[tuple[str, str]],
) -> web.StreamResponse:
    assert double._http is not None
    try:
        async with double._http.request(
            request.method,
            URL(url, encoded=True),
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
        ) as upstream:
            body = await upstream.read()
            out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
            response = web.Response(status=upstream.status, body=body)
            for key, value in out:
                response.headers.add(key, value)
            return response
    except (aiohttp.ClientError, OSError) as exc:
        return _invoke_error(app_id, repr(exc))


def _invoke_error(app_id: str, reason: str, *, status: int = 500) -> web.Response:
    return web.json_response(
        {
            "errorCode": "ERR_DIRECT_INVOKE",
            "message": f"failed to invoke, id: {app_id}, err: {reason}",
        },
        status=status,
    )
