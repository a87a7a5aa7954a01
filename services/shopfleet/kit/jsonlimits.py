"""Bounds on the shape of JSON request bodies, checked before any validation.

Pydantic reports every unknown key, every wrong item: a body of 700,000 unknown keys
became 700,000 errors, a 60 MB answer and seconds of a blocked event loop. `JsonLimits`
(a pure ASGI middleware in every app) parses a JSON body once with orjson, walks it with
early exits, and refuses a body that is too big, too deep, or holds too many keys or
items with a 413 problem that names the bound. Bodies within the bounds reach the app
byte for byte; other content types pass untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfleet.kit.errors import problem_response
from shopfleet.kit.settings import PlatformSettings

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
_SLUG = "json-too-complex"


@dataclass(frozen=True)
class JsonBounds:
    """What one JSON request body may hold (see PlatformSettings.json_*)."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_object_keys: int = 1000
    max_array_items: int = 1000
    max_values: int = 10_000  # keys and array items in the whole document

    @classmethod
    def of(cls, platform: PlatformSettings) -> JsonBounds:
        return cls(
            max_bytes=platform.json_max_bytes,
            max_depth=platform.json_max_depth,
            max_object_keys=platform.json_max_object_keys,
            max_array_items=platform.json_max_array_items,
            max_values=platform.json_max_values,
        )


@dataclass(frozen=True)
class Violation:
    bound: str  # bytes | depth | keys_per_object | items_per_array | values
    limit: int
    at: str  # JSON path where it was hit ("$" for the document)

    def detail(self) -> str:
        what = {
            "bytes": f"larger than {self.limit} bytes",
            "depth": f"nested deeper than {self.limit} levels",
            "keys_per_object": f"an object with more than {self.limit} keys",
            "items_per_array": f"an array with more than {self.limit} items",
            "values": f"more than {self.limit} keys and array items in all",
        }[self.bound]
        return f"The JSON body is {what} (at {self.at}); send a smaller document."


def _child_path(path: str, step: object) -> str:
    return (f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}")[:200]


def check_shape(document: Any, bounds: JsonBounds) -> Violation | None:
    """The first bound `document` breaks, or None. Stops at the first violation, so the
    work is bounded by the limits, not by the document."""
    values = 0
    stack: list[tuple[Any, int, str]] = [(document, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        if depth > bounds.max_depth:
            return Violation("depth", bounds.max_depth, path)
        if isinstance(node, dict):
            if len(node) > bounds.max_object_keys:
                return Violation("keys_per_object", bounds.max_object_keys, path)
            children: Any = node.items()
        else:
            if len(node) > bounds.max_array_items:
                return Violation("items_per_array", bounds.max_array_items, path)
            children = enumerate(node)
        values += len(node)
        if values > bounds.max_values:
            return Violation("values", bounds.max_values, path)
        for step, child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, _child_path(path, step)))
    return None


def _parse(body: bytes) -> tuple[bool, Any]:
    """(parsed?, document). orjson first; the standard library (which the app's own
    parsing uses) for what orjson refuses but it accepts (NaN, lone surrogates, a BOM)."""
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None  # not JSON: the app answers it as it always did


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class JsonLimits:
    """ASGI middleware: refuse JSON bodies outside `bounds` before the app sees them."""

    def __init__(self, app: ASGIApp, *, bounds: JsonBounds | None = None) -> None:
        self.app = app
        self.bounds = bounds or JsonBounds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        declared = -1
        content_type = b""
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length" and value.isdigit():
                declared = int(value)
        if not _is_json(content_type):
            await self.app(scope, receive, send)
            return
        limit = self.bounds.max_bytes
        violation = Violation("bytes", limit, "$") if declared > limit else None
        body = b""
        if violation is None:
            body, whole = await _read_body(receive, limit)
            if not whole:
                violation = Violation("bytes", limit, "$")
            elif body:
                parsed, document = _parse(body)
                if parsed and isinstance(document, dict | list):
                    violation = check_shape(document, self.bounds)
        if violation is not None:
            response = problem_response(
                413,
                violation.detail(),
                slug=_SLUG,
                title="The JSON body is too complex",
                instance=scope["path"],
                bound=violation.bound,
                limit=violation.limit,
                at=violation.at,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and False if it grew past `limit` (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real channel
    (so a disconnect still arrives)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
