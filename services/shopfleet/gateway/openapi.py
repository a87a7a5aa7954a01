"""One OpenAPI document of every shop route, merged from each service's own document.

Services already publish their routes under `/shops/{shop}/api/v1`, so merging is
taking their paths and schemas; two services' schemas of one name that differ are
renamed `<service>__<name>` (and the references to them rewritten).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import structlog

from shopfleet.kit.auth import SHOP_API_PREFIX
from shopfleet.kit.blocks import Invoker, ServiceUnavailable

log = structlog.get_logger("shopfleet.gateway.openapi")


def _rename_schemas(doc: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    raw = orjson.dumps(doc).decode()
    for old, new in renames.items():
        raw = raw.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed = orjson.loads(raw)
    schemas = renamed.get("components", {}).get("schemas", {})
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
    return renamed


def merge(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "shopfleet shop API",
            "version": "1.0.0",
            "description": "Every shop's REST API. Reach a shop at `/shops/{shop}/api/v1/...`, "
            "or at `https://<shop host>/api/v1/...`. Errors are RFC 9457 problem+json.",
        },
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "tags": [],
    }
    schemas = merged["components"]["schemas"]
    for service, doc in sorted(documents.items()):
        theirs = doc.get("components", {}).get("schemas", {})
        renames = {
            n: f"{service}__{n}" for n, s in theirs.items() if n in schemas and schemas[n] != s
        }
        if renames:
            doc = _rename_schemas(doc, renames)
            theirs = doc["components"]["schemas"]
        schemas.update(theirs)
        for path, item in doc.get("paths", {}).items():
            if path.startswith(SHOP_API_PREFIX):
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation["tags"] = [service]
                merged["paths"][path] = item
        merged["tags"].append({"name": service})
    return merged


class OpenApiAggregator:
    def __init__(self, invoker: Invoker, services: frozenset[str], *, cache_s: float) -> None:
        self.invoker = invoker
        self.services = services
        self.cache_s = cache_s
        self._cached: tuple[float, bytes] | None = None

    async def document(self) -> bytes:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < self.cache_s:
            return self._cached[1]
        documents: dict[str, dict[str, Any]] = {}
        for service in self.services:
            try:
                answer = await self.invoker.invoke(service, "GET", "/openapi.json", timeout_s=5)
            except ServiceUnavailable as exc:
                log.warning("openapi of a service unavailable", service=service, reason=exc.reason)
                continue
            if answer.status == 200:
                documents[service] = answer.json()
        body = orjson.dumps(merge(documents))
        if len(documents) == len(self.services):  # cache only complete documents
            self._cached = (now, body)
        return body
