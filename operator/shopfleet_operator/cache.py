"""A watch-fed cache of objects the operator manages: the shared tier's children and the
route table in the platform namespace, and the dedicated shops' namespaces.

The drift timer re-reads every child of every shop; with a thousand shared shops that was
thousands of GETs a minute, all answered from what the API server had already told us.
Here one list and one watch per kind (label-selected: `app.kubernetes.io/managed-by`) keep
a copy current, and the handlers read it through `Kube.read`. Writes feed it their answers,
so a reconcile reads what it just wrote. Until a kind's first list has arrived, and for
anything not selected (an admin's Secret), reads go to the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from shopfleet_operator.build.names import MANAGED_BY
from shopfleet_operator.config import Config

if TYPE_CHECKING:
    from shopfleet_operator.kube import Kube

PLATFORM_KINDS = ["ConfigMap", "Secret", "Component", "Ingress", "Lease"]

# A Kubernetes object (or a watch event, a list) as the API server's JSON: every kind has a
# shape of its own, so its values stay Any.
Manifest = dict[str, Any]

log = logging.getLogger("shopfleet_operator.cache")
WATCH_SECONDS = 240  # the server ends each watch; we list again only on 410 Gone


def _version(obj: Manifest) -> int:
    raw = obj.get("metadata", {}).get("resourceVersion") or "0"
    return int(raw) if raw.isdigit() else 0


class Store:
    """One kind's objects in one namespace, by name."""

    def __init__(self) -> None:
        self.objects: dict[str, Manifest] = {}
        self.synced = asyncio.Event()

    def put(self, obj: Manifest) -> None:
        name = obj["metadata"]["name"]
        known = self.objects.get(name)
        if known is None or _version(obj) >= _version(known):  # never go back in time
            self.objects[name] = obj

    def drop(self, name: str) -> None:
        self.objects.pop(name, None)


Followed = tuple[str, str | None]  # a kind, in a namespace (None: cluster-scoped)


class WatchCache:
    """Follows each (kind, namespace) with one list + watch (`start`, `stop`)."""

    def __init__(self, kube: Kube, followed: list[Followed], selector: str) -> None:
        self.kube = kube
        self.selector = selector
        self.stores = {where: Store() for where in followed}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow(*where), name=f"cache {where}")
            for where in self.stores
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def holds(self, kind: str, namespace: str | None, labels: dict[str, str]) -> bool:
        """Whether this cache answers for such objects (selected, and listed already)."""
        store = self.stores.get((kind, namespace))
        key, _, value = self.selector.partition("=")
        return store is not None and store.synced.is_set() and labels.get(key) == value

    def get(self, kind: str, namespace: str | None, name: str) -> Manifest | None:
        found = self.stores[(kind, namespace)].objects.get(name)
        return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str | None, labels: dict[str, str]) -> list[Manifest]:
        return [
            copy.deepcopy(obj)
            for obj in self.stores[(kind, namespace)].objects.values()
            if all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]

    def saw(self, kind: str, namespace: str | None, obj: Manifest | None, name: str = "") -> None:
        """A write's answer (None: deleted) for the stores that hold such objects."""
        store = self.stores.get((kind, namespace))
        if store is None:
            return
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        key, _, value = self.selector.partition("=")
        if obj is None or labels.get(key) != value:
            store.drop(name or (obj or {}).get("metadata", {}).get("name", ""))
        else:
            store.put(obj)

    async def _follow(self, kind: str, namespace: str | None) -> None:
        store = self.stores[(kind, namespace)]
        while True:
            try:
                version = await self._list(kind, namespace, store)
                store.synced.set()
                while version:
                    version = await self._watch(kind, namespace, store, version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API server away, a 410: list again shortly
                log.info("cache of %s: %s; listing again", kind, exc)
            await asyncio.sleep(1)

    async def _list(self, kind: str, namespace: str | None, store: Store) -> str:
        body = await self.kube.raw_list(kind, namespace, self.selector)
        fresh = {item["metadata"]["name"]: item for item in body.get("items") or []}
        store.objects = fresh
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, kind: str, namespace: str | None, store: Store, version: str) -> str:
        """Apply one watch's events; the version to go on from ("" to list again)."""
        events = self.kube.watch(kind, namespace, self.selector, version, WATCH_SECONDS)
        async for event in events:
            kind_of, obj = event.get("type"), event.get("object") or {}
            if kind_of == "ERROR":
                return ""  # 410 Gone: the version is too old
            if kind_of == "BOOKMARK":
                version = obj["metadata"]["resourceVersion"]
                continue
            if kind_of == "DELETED":
                store.drop(obj["metadata"]["name"])
            else:
                store.put(obj)
            version = obj["metadata"].get("resourceVersion") or version
        return version


def children_cache(kube: Kube, config: Config) -> WatchCache:
    """What every shared shop's reconcile reads: its Secret, state Component and Ingresses,
    and the route table, all in the platform namespace; and the dedicated shops'
    namespaces (a shared shop checks it has none left)."""
    selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    followed: list[Followed] = [(kind, config.namespace) for kind in PLATFORM_KINDS]
    return WatchCache(kube, [*followed, ("Namespace", None)], selector)


async def watch_lines(answer: aiohttp.ClientResponse) -> AsyncIterator[Manifest]:
    """The JSON events of a watch response, one a line."""
    async for line in answer.content:
        if line.strip():
            event: Manifest = orjson.loads(line)
            yield event
