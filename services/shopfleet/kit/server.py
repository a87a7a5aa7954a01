"""The one place that configures the HTTP server (uvicorn) of everything we serve:
`shopfleet up`, `shopfleet serve` (and so `shopfleet dev`), and the tests' served apps.

- **Forwarded headers** (`X-Forwarded-For`/`-Proto`) are believed only from the addresses
  in `trusted_proxies` (default: none). uvicorn's own default trusts 127.0.0.1, which let
  anything on the machine pick its client address and so its rate-limit bucket.
- **Request heads are bounded**: uvicorn on httptools has no limit on header size or count,
  and no timeout for a head that never ends. `BoundedHttpTools` adds them: a head larger
  than `http_max_head_bytes` or with more than `http_max_headers` fields gets a 431, one
  not complete `http_header_timeout_s` after it began (or after the connection opened) a
  408, and a head that is not HTTP a 400 — all problem+json, where uvicorn answered
  text/plain. After such an answer the connection half-closes and drains a moment, so the
  client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from shopfleet.kit.errors import PROBLEM_CONTENT_TYPE, problem_body
from shopfleet.kit.settings import PlatformSettings

# How long a refused connection keeps reading (and dropping) before it closes.
_LINGER_S = 2.0
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    max_fields: int
    timeout_s: float

    @classmethod
    def of(cls, platform: PlatformSettings) -> HeadLimits:
        return cls(
            max_bytes=platform.http_max_head_bytes,
            max_fields=platform.http_max_headers,
            timeout_s=platform.http_header_timeout_s,
        )


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus the request-head limits our protocol reads."""

    def __init__(self, app: Any, *, head_limits: HeadLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.head_limits = head_limits


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head we refuse."""


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the request head (see the module doc).

    Kept off the per-header path (it is the hot path of every request): httptools buffers
    a header until its line ends, so the bytes of an unfinished head are counted as they
    arrive, and a finished head is measured only when its bytes could exceed the bound.
    Head deadlines are checked by one sweep a second per server, not a timer per request.
    """

    def __init__(self, config: ServerConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = config.head_limits
        self._max_bytes = limits.max_bytes
        self._max_fields = limits.max_fields
        self._head_timeout_s = limits.timeout_s
        self._in_head = True  # between the end of one request and the end of the next head
        self._head_bytes = 0  # bytes received since the head began (may include some body)
        self._head_deadline: float | None = None
        self._refusal: tuple[int, str] | None = None
        self._refused = False

    # uvicorn's own signature, which narrows asyncio's BaseTransport to Transport (uvicorn
    # ignores the same error). No isinstance can narrow it here: uvloop's transports are not
    # asyncio.Transport subclasses.
    def connection_made(  # type: ignore[override]  # uvicorn's narrowed signature, see above
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._head_deadline = self.loop.time() + self._head_timeout_s
        _HeadSweep.watch(self)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # draining after a refusal
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_bytes and not self._refused:
            self._refuse(431, f"The request head is larger than {self._max_bytes} bytes.")

    def send_400_response(self, msg: str) -> None:
        status, detail = self._refusal or (
            400,
            "The request is not valid HTTP/1.1; check the request line and headers.",
        )
        self._refuse(status, detail)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:  # the next request on a kept-alive connection
            self._head_deadline = self.loop.time() + self._head_timeout_s

    def on_headers_complete(self) -> None:
        if len(self.headers) > self._max_fields:
            self._stop(431, f"The request has more than {self._max_fields} header fields.")
        if self._head_bytes > self._max_bytes and self._head_size() > self._max_bytes:
            self._stop(431, f"The request head is larger than {self._max_bytes} bytes.")
        self._in_head = False
        self._head_deadline = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # Refusals

    def _stop(self, status: int, detail: str) -> None:
        self._refusal = (status, detail)
        raise _Refused(detail)  # httptools turns it into a parser error: send_400_response

    def head_overdue(self, now: float) -> bool:
        return self._head_deadline is not None and now > self._head_deadline

    def on_head_timeout(self) -> None:
        self._head_deadline = None
        if not self._in_head or self._refused or self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse(408, f"The request head did not arrive within {self._head_timeout_s:g} s.")
        else:  # nothing was sent: nothing to answer
            self.transport.close()

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` as problem+json, then half-close and drain before closing."""
        self._refused = True
        self._head_deadline = None
        self.logger.info("refused a request head: %s", detail)
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an answer is on its way: ours cannot go after it
            return
        body = problem_body(status, detail)
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], PROBLEM_CONTENT_TYPE.encode(), len(body))
        )
        self.transport.write(head + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)


class _HeadSweep:
    """Once a second, time out the overdue heads on one server's connections; runs while
    the server has connections."""

    _sweeping: weakref.WeakSet[ServerState] = weakref.WeakSet()  # the ServerStates being swept

    @classmethod
    def watch(cls, protocol: BoundedHttpTools) -> None:
        state = protocol.server_state
        if state not in cls._sweeping:
            cls._sweeping.add(state)
            protocol.loop.call_later(1.0, cls._sweep, protocol.loop, state)

    @classmethod
    def _sweep(cls, loop: asyncio.AbstractEventLoop, state: ServerState) -> None:
        now = loop.time()
        for protocol in list(state.connections):
            if isinstance(protocol, BoundedHttpTools) and protocol.head_overdue(now):
                protocol.on_head_timeout()
        if state.connections:
            loop.call_later(1.0, cls._sweep, loop, state)
        else:
            cls._sweeping.discard(state)


def server_config(
    app: Any, platform: PlatformSettings, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """The uvicorn Config for serving `app`: uvloop, httptools with bounded heads,
    forwarded headers from `platform.trusted_proxies` only, no access log of uvicorn's own
    (RequestContext logs each request once), no Server header. `options` override."""
    trusted = list(platform.trusted_proxies)
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": BoundedHttpTools,
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        **options,
    }
    return ServerConfig(app, head_limits=HeadLimits.of(platform), **settings)
