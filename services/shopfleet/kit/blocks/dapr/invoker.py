"""`DaprInvoker`: service invocation through the sidecar's HTTP API.

A call is `<method> http://<sidecar>/v1.0/invoke/<app-id>/method/<path>?<query>` with the
caller's headers and body: the endpoint the SDK's HTTP invoker
(`dapr.clients.http.dapr_invocation_http_client`) uses too, and the one Dapr recommends for
apps that speak HTTP. The sidecar finds the target, applies the `Resiliency` policy
(retries, circuit breaker) and returns the target app's response unchanged: status, headers
and body, which is exactly our `InvokeResponse`.

Why not the SDK call itself: `DaprClient.invoke_method` (HTTP mode) opens a new aiohttp
session per call, keeps headers in a dict (repeated headers collapse), reads the sidecar
address from process-global settings, and raises on every non-2xx answer, losing the
target's headers (a 404 problem+json is an answer, not an error). Its gRPC mode maps HTTP
statuses to gRPC codes and drops response headers. So we speak the same documented HTTP
API with one pooled `aiohttp` client per process (see `DaprSidecar.http`).

Failures: the target is unknown, down, or crashed before answering -> daprd answers 500
with `{"errorCode": "ERR_DIRECT_INVOKE", ...}` -> `ServiceUnavailable`; the sidecar itself
cannot be reached -> `ServiceUnavailable`; no answer within `timeout_s` ->
`ServiceUnavailable(timed_out=True)` (the connection is dropped, which cancels the call).
"""

from __future__ import annotations

import aiohttp
import orjson
from yarl import URL

from shopfleet.kit.blocks.dapr.sidecar import DaprSidecar
from shopfleet.kit.blocks.ports import Headers, Invoker, InvokeResponse, ServiceUnavailable
from shopfleet.kit.paths import path_problem

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"trailer",
    b"upgrade",
    b"host",
    b"content-length",
}
SIDECAR_ERRORS = {"ERR_DIRECT_INVOKE", "ERR_DIRECT_INVOKE_NOT_READY"}


class DaprInvoker(Invoker):
    def __init__(self, sidecar: DaprSidecar, *, default_timeout_s: float = 10.0) -> None:
        self.sidecar = sidecar
        self.default_timeout_s = default_timeout_s
        self._closed = False
        sidecar.acquire()

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
        if (problem := path_problem(path.encode())) is not None:
            raise ValueError(f"not a canonical path ({problem}): {path!r}")
        # An absolute URL, taken as encoded: never joined onto a base URL (a join removes dot
        # segments) nor re-encoded; what the caller routed is what the sidecar receives.
        url = f"{self.sidecar.http_url}/v1.0/invoke/{app_id}/method{path}"
        if query:
            url = f"{url}?{query}"
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        sent = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in headers
            if k.lower() not in HOP_BY_HOP
        ]
        if not any(k.lower() == "accept-encoding" for k, _ in sent):
            sent.append(("accept-encoding", "identity"))  # pass bodies through untouched
        try:
            async with self.sidecar.http().request(
                method,
                URL(url, encoded=True),
                data=body or None,
                headers=sent,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 2.0)),
            ) as response:
                content = await response.read()
                status, raw = response.status, response.raw_headers
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too
            raise ServiceUnavailable(
                app_id, f"no answer within {timeout:g}s", timed_out=True
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ServiceUnavailable(
                app_id, f"sidecar at {self.sidecar.http_url} unreachable: {exc!r}"
            ) from exc
        if status == 500 and (reason := _sidecar_error(content)) is not None:
            raise ServiceUnavailable(app_id, reason)
        kept = [
            (k, v)
            for k, v in raw
            if k.lower() not in HOP_BY_HOP and k.lower() != b"content-encoding"
        ]
        return InvokeResponse(status=status, headers=kept, body=content)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.sidecar.release()


def _sidecar_error(content: bytes) -> str | None:
    """daprd's own invocation error (not the target app's 500), if it is one."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and body.get("errorCode") in SIDECAR_ERRORS:
        return f"{body['errorCode']}: {body.get('message', '')}"
    return None
