"""The route table as the gateway keeps it: which shops exist, their hosts, tier and state.

It is a JSON document, `{"shops": {"<slug>": {...Route...}}}`, whose schema the operator
shares (`kit/contracts/routes.py`). In a cluster the operator writes it into a ConfigMap
that is mounted into the gateway; in the embedded platform it is `routes.json` in the data
dir, written by the CLI. Either way the gateway re-reads it
when it changes, without a restart, and keeps the last good table if a new one is broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import orjson
import structlog
from pydantic import ValidationError

from shopfleet.kit.contracts.routes import Route, RouteTableDoc, validate_route_table

log = structlog.get_logger("shopfleet.gateway.routes")


class RouteTable:
    """An immutable snapshot with lookups by slug and by host."""

    def __init__(self, doc: RouteTableDoc) -> None:
        self.doc = doc
        self.by_host = {
            host.lower(): slug for slug, route in doc.shops.items() for host in route.hosts
        }

    def shop(self, slug: str) -> Route | None:
        return self.doc.shops.get(slug)

    def shop_for_host(self, host: str) -> str | None:
        return self.by_host.get(host)


def parse_route_table(raw: bytes) -> RouteTable:
    return RouteTable(validate_route_table(raw))


class RouteFile:
    """The route table kept in a file, re-read when its modification time changes."""

    def __init__(self, path: Path, *, reload_s: float = 1.0) -> None:
        self.path = path
        self.reload_s = reload_s
        self.table = RouteTable(RouteTableDoc())
        self._stamp: tuple[float, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def load(self) -> bool:
        """Re-read the file if it changed; True when a new table took effect."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.table = parse_route_table(self.path.read_bytes())
        except (ValidationError, ValueError, OSError) as exc:
            log.error(
                "route table rejected; keeping the previous one",
                path=str(self.path),
                error=str(exc),
            )
            return False
        log.info("route table loaded", shops=len(self.table.doc.shops))
        return True

    def save(self, doc: RouteTableDoc) -> None:
        """Write atomically (temp file + rename) so a reader never sees half a table."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps(doc.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".routes.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.path)
        self.load()

    def put(self, slug: str, route: Route) -> None:
        self.load()
        doc = self.table.doc.model_copy(deep=True)
        doc.shops[slug] = route
        self.save(doc)

    def remove(self, slug: str) -> bool:
        self.load()
        if slug not in self.table.doc.shops:
            return False
        doc = self.table.doc.model_copy(deep=True)
        del doc.shops[slug]
        self.save(doc)
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_s)
            self.load()

    def start(self) -> None:
        self.load()
        self._task = asyncio.create_task(self._watch(), name="route-table-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
