"""The double's HTTP API: health, metadata, service invocation (invoke_api.py), and the
optional Prometheus endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shopfleet.devtools.sidecar_double.config import RUNTIME_VERSION
from shopfleet.devtools.sidecar_double.invoke_api import add_invoke_routes

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble


def http_api(double: SidecarDouble) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)

    async def healthz(request: web.Request) -> web.Response:
        if double.app_ready.is_set():
            return web.Response(status=204)
        message = double.app_error or "waiting for the app"
        return web.json_response(
            {"errorCode": "ERR_HEALTH_NOT_READY", "message": message}, status=500
        )

    async def healthz_outbound(request: web.Request) -> web.Response:
        return web.Response(status=204)  # components are up once the server listens

    async def metadata(request: web.Request) -> web.Response:
        config = double.config
        return web.json_response(
            {
                "id": config.app_id,
                "runtimeVersion": RUNTIME_VERSION,
                "components": [
                    {"name": n, "type": t, "version": v}
                    for n, (t, v) in double.component_types.items()
                ],
                "subscriptions": [
                    {
                        "pubsubname": r.pubsub,
                        "topic": r.topic,
                        "route": r.path,
                        "deadLetterTopic": r.dead_letter_topic or "",
                    }
                    for b in double.unique_brokers()
                    for r in b.routes
                ],
            }
        )

    app.router.add_get("/v1.0/healthz", healthz)
    app.router.add_get("/v1.0/healthz/outbound", healthz_outbound)
    app.router.add_get("/v1.0/metadata", metadata)
    add_invoke_routes(app, double)
    return app


def metrics_api(double: SidecarDouble) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        """A few of daprd's series, enough for a scrape to find something."""
        app = double.config.app_id
        lines = [
            "# TYPE dapr_runtime_component_loaded counter",
            *(
                f'dapr_runtime_component_loaded{{app_id="{app}",component="{name}",'
                f'success="true"}} 1'
                for name in double.component_types
            ),
            "# TYPE dapr_runtime_app_ready gauge",
            f'dapr_runtime_app_ready{{app_id="{app}"}} {1 if double.app_ready.is_set() else 0}',
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
