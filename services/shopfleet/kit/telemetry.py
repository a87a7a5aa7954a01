"""Structured logs with request id / shop / trace id, Prometheus metrics (on their own
port), health endpoints.

`RequestContext` is a pure ASGI middleware (Starlette's BaseHTTPMiddleware costs far more
per request): it takes or makes the request id and W3C trace context, binds them to the
log context, echoes `X-Request-ID`, and records one counter and one histogram sample.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import io
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import orjson
import structlog
from fastapi import APIRouter
from prometheus_client import Counter, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfleet.kit.errors import problem_response
from shopfleet.kit.log_lines import LineRenderer, console_line, iso_now, json_line

REQUESTS = Counter(
    "shopfleet_http_requests_total",
    "HTTP requests answered.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "shopfleet_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Label values must be bounded: a client can send any method name.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SERIES: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}


def _series(service: str, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The counter and histogram children of one label set (`labels()` is slow per call)."""
    key = (service, method, route, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (
            REQUESTS.labels(service, method, route, str(status)),
            LATENCY.labels(service, route),
        )
    return found


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_access_log = structlog.get_logger("shopfleet.access")


class BufferedLogger:
    """Writes log lines through a buffer that a background thread flushes a few times a
    second: one `write` syscall per line costs more than the rest of the access log.
    Warnings and errors are flushed at once, so nothing important waits in the buffer.
    """

    def __init__(self, fd: int = 2, *, flush_s: float = 0.25) -> None:
        self._out = io.BufferedWriter(io.FileIO(fd, "w", closefd=False), buffer_size=1 << 16)
        self._flush_s = flush_s
        threading.Thread(target=self._flusher, name="log-flush", daemon=True).start()
        atexit.register(self.flush)

    def _flusher(self) -> None:
        while True:
            time.sleep(self._flush_s)
            self.flush()

    def flush(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._out.flush()

    def msg(self, message: str) -> None:
        self._out.write(message.encode() + b"\n")

    def msg_now(self, message: str) -> None:
        self.msg(message)
        self.flush()

    debug = info = msg
    warning = warn = error = err = critical = exception = fatal = failure = msg_now


_buffered: BufferedLogger | None = None
# Set by in-process clients whose requests are not news (e.g. seeding at start-up).
quiet_requests: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "quiet_requests", default=False
)
# Where access lines skip structlog, and how they are rendered (set by configure_logging).
_direct_access: tuple[BufferedLogger, LineRenderer] | None = None


def flush_logs() -> None:
    """Write out what the log buffer holds now (before its file descriptor is redirected)."""
    if _buffered is not None:
        _buffered.flush()


def _log_access(method: str, path: str, status: int, elapsed: float) -> None:
    """One line per request. Written directly, in the shape structlog would give it, when
    the renderer allows (JSON, uncoloured console): its processor chain cost more than the
    rest of a forwarded request."""
    fields = {"method": method, "path": path, "status": status, "ms": round(elapsed * 1000, 2)}
    if _direct_access is None:
        _access_log.info("request", **fields)
        return
    out, render = _direct_access
    out.msg(render(fields, structlog.contextvars.get_contextvars(), iso_now()))


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Route structlog and stdlib logging through one renderer (JSON in clusters)."""
    global _buffered, _direct_access
    colors = sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=lambda o, **_: orjson.dumps(o).decode())
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    if _buffered is None and not sys.stderr.isatty():
        _buffered = BufferedLogger()
    info_enabled = logging.getLevelName(level.upper()) <= logging.INFO
    render = json_line if fmt == "json" else console_line
    # Only where structlog would write the same uncoloured line to the same buffer.
    _direct_access = (_buffered, render) if _buffered and not colors and info_enabled else None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=(lambda *_: _buffered)
        if _buffered
        else structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; our own access log already says what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def trace_ids(traceparent: str | None) -> tuple[str, str]:
    """(trace id, traceparent to pass on): continue the caller's trace or start one."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent)
        if match:
            return match.group(1), traceparent
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _shop_of(path: str) -> str | None:
    if path.startswith("/shops/"):
        return path[7:].split("/", 1)[0] or None
    return None


class RequestContext:
    """ASGI middleware: request id, trace context, log context, access log, metrics."""

    def __init__(self, app: ASGIApp, *, service: str, access_log: bool = True) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID.match(request_id):
            request_id = secrets.token_hex(8)
        trace_id, traceparent = trace_ids(
            headers.get(b"traceparent", b"").decode("latin-1") or None
        )
        state = scope.setdefault("state", {})
        state["request_id"], state["traceparent"] = request_id, traceparent
        shop = state.get("shop") or _shop_of(scope["path"])
        # Bound for this request only: an in-process call must not leak into its caller.
        bound = structlog.contextvars.bind_contextvars(
            request_id=request_id, trace_id=trace_id, shop=shop
        )
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or state.get("route") or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            count, latency = _series(self.service, method, template, status)
            count.inc()
            latency.observe(elapsed)
            if self.access_log and not quiet_requests.get():
                _log_access(scope["method"], scope["path"], status, elapsed)
            structlog.contextvars.reset_contextvars(**bound)


ReadyCheck = Callable[[], Awaitable[None]]


def health_router(checks: Mapping[str, ReadyCheck], *, timeout_s: float = 2.0) -> APIRouter:
    """`/healthz` (the process lives), `/readyz` (its dependencies answer). Metrics are
    served on their own port (`metrics_listener`)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> Response:
        failures: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout_s)
            except Exception as exc:  # any failure means not ready; say which and why
                failures[name] = str(exc) or type(exc).__name__
        if failures:
            return problem_response(
                503,
                "Not ready: " + ", ".join(f"{k} ({v})" for k, v in failures.items()),
                slug="not-ready",
                checks=failures,
            )
        return Response(
            orjson.dumps({"status": "ready", "checks": list(checks)}), media_type="application/json"
        )

    return router


class _MetricsHandler(WSGIRequestHandler):
    timeout = 10  # seconds a scrape connection may sit idle: a slow client costs one thread

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not news."""


@contextlib.contextmanager
def metrics_listener(host: str, port: int) -> Iterator[str | None]:
    """Serve the process's Prometheus metrics on their own port, as clusters scrape them:
    never on an app's port, which the gateway or a sidecar exposes. A thread answers
    scrapes, so the event loop does not. Yields the URL; None when `port` is 0 or taken
    (the app still runs: metrics are not worth failing a start over)."""
    if not port:
        yield None
        return
    try:
        server = make_server(
            host, port, make_wsgi_app(), ThreadingWSGIServer, handler_class=_MetricsHandler
        )
    except OSError as exc:
        structlog.get_logger("shopfleet.metrics").warning(
            "metrics.not_served", host=host, port=port, error=str(exc)
        )
        yield None
        return
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
