"""kmock's Kubernetes emulator, made to behave like a real API server where it matters.

kmock 0.8 stores bodies as sent and replays every object on each watch. Here, in front of
its storage:

- metadata a real server assigns: uid, resourceVersion (one counter, bumped on every
  change and only on a change), generation (bumped on spec changes), creationTimestamp,
  names from generateName;
- merge patches with a `metadata.resourceVersion` precondition (409 on a stale one);
- the status subresource: writes to the object ignore `status`, writes to `/status`
  change only `status`;
- 404 after deletion, 404 when creating in a namespace that does not exist;
- deletion: finalizers delay it, then the garbage collector removes dependents
  (ownerReferences) and the namespace controller a namespace's contents;
- watches start after the resourceVersion of the list (no replay of old objects);
- `/api/v1/namespaces[/name]` paths (kmock 0.8 misparses them);
- injected faults: `api.fail("PATCH", "/configmaps/", status=500, times=2)`.

Tests also play the missing controllers: `await api.make_available(...)` is the kubelet
and the Deployment controller reporting a Deployment available.
"""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import parsing, rendering

# ---- kmock 0.8 misparses /api/v1/namespaces and /api/v1/namespaces/<name> ------------------

_parse_path = parsing.parse_path


def _parse_path_with_namespaces(path: str) -> parsing.ParsedPath:
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (
        len(parts) <= 4 or (len(parts) == 5 and parts[4] in ("status", "finalize"))
    ):
        return parsing.ParsedPath(
            group="",
            version="v1",
            plural="namespaces",
            name=parts[3] if len(parts) > 3 else None,
            subresource=parts[4] if len(parts) > 4 else None,
        )
    return _parse_path(path)


parsing.parse_path = _parse_path_with_namespaces

# ---- the resources a cluster with the CRD and Dapr serves ----------------------------------

RESOURCES: dict[str, tuple[str, bool, set[str]]] = {
    # "group/version/plural": (kind, namespaced, subresources)
    "v1/namespaces": ("Namespace", False, {"status"}),
    "v1/configmaps": ("ConfigMap", True, set()),
    "v1/secrets": ("Secret", True, set()),
    "v1/services": ("Service", True, {"status"}),
    "v1/serviceaccounts": ("ServiceAccount", True, set()),
    "v1/resourcequotas": ("ResourceQuota", True, {"status"}),
    "v1/limitranges": ("LimitRange", True, set()),
    "v1/persistentvolumeclaims": ("PersistentVolumeClaim", True, {"status"}),
    "v1/events": ("Event", True, set()),
    "apps/v1/deployments": ("Deployment", True, {"status"}),
    "networking.k8s.io/v1/ingresses": ("Ingress", True, {"status"}),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True, set()),
    "dapr.io/v1alpha1/components": ("Component", True, set()),
    "dapr.io/v1alpha1/configurations": ("Configuration", True, set()),
    "shopfleet.io/v1alpha1/shops": ("Shop", True, {"status"}),
    "apiextensions.k8s.io/v1/customresourcedefinitions": (
        "CustomResourceDefinition",
        False,
        {"status"},
    ),
}
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _rkey(resource: Any) -> str:
    return "/".join(p for p in (resource.group, resource.version, resource.plural) if p)


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _json_patch(doc: dict, ops: list[dict]) -> dict:
    """RFC 6902 JSON patch (add, remove, replace, test), as kopf sends for finalizers."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        index: Any = last
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
        if op["op"] == "test":
            if target[index] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] == "remove":
            del target[index]
        elif op["op"] == "add" and isinstance(target, list):
            target.insert(index, op["value"])
        elif op["op"] in ("add", "replace"):
            target[index] = op["value"]
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc


def _replacement(current: Any, new: Any) -> Any:
    """The merge patch that turns `current` into `new`."""
    if not isinstance(current, dict) or not isinstance(new, dict):
        return new
    patch = {k: None for k in current if k not in new}
    for key, value in new.items():
        if current.get(key) != value:
            patch[key] = _replacement(current.get(key), value) if key in current else value
    return patch


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
        status=code,
    )


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    _rv: int = attrs.field(default=0, init=False)
    _log: dict[str, list[tuple[int, dict]]] = attrs.field(factory=dict, init=False)
    _write_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, (kind, namespaced, subresources) in RESOURCES.items():
            self.resources[key] = kmock.ResourceInfo(
                kind=kind, namespaced=namespaced, verbs=VERBS, subresources=subresources
            )

    # ---- what tests use ----------------------------------------------------------------

    def fail(self, method: str, path: str, *, status: int = 500, times: int = 1) -> None:
        self.faults.append(Fault(method.upper(), re.compile(path), status, times))

    @property
    def count(self) -> int:
        """How many requests the server has seen."""
        return len(self._requests)

    def writes(self, since: int = 0) -> list[str]:
        """`METHOD path` of every write request (from request number `since` on)."""
        return [
            f"{r.method.value} {r.url.path}"
            for r in self._requests[since:]
            if r.method.value in WRITES
        ]

    def obj(
        self, resource: str, namespace: str | None, name: str, *, copied: bool = True
    ) -> dict | None:
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        raw = self.objects[key].raw
        return copy.deepcopy(raw) if copied else raw

    def all(
        self, resource: str, namespace: str | None = None, *, copied: bool = True
    ) -> list[dict]:
        wanted = kmock.resource(resource)
        return [
            copy.deepcopy(obj.raw) if copied else obj.raw
            for (res, ns, _), obj in self.objects.items()
            if res == wanted and not obj.deleted and (namespace is None or ns == namespace)
        ]

    async def apply(self, obj: dict) -> dict:
        """Create (or replace the spec/data of) an object as `kubectl apply` would."""
        resource = self._resource_of(obj)
        namespaced = RESOURCES[_rkey(resource)][1]
        ns = obj["metadata"].get("namespace", "default") if namespaced else None
        async with self._write_lock:
            if self.obj(_rkey(resource), ns, obj["metadata"]["name"]) is None:
                answer = await self._create(resource, ns, copy.deepcopy(obj))
            else:
                patch = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
                answer = await self._update(resource, ns, obj["metadata"]["name"], None, patch)
        return answer[1]

    async def remove(self, resource: str, namespace: str | None, name: str) -> None:
        async with self._write_lock:
            await self._delete(kmock.resource(resource), namespace, name)

    async def patch_status(self, resource: str, namespace: str | None, name: str, status: dict):
        async with self._write_lock:
            await self._update(
                kmock.resource(resource), namespace, name, "status", {"status": status}
            )

    async def make_available(self, namespace: str) -> int:
        """Play the Deployment controller: every Deployment in `namespace` is available."""
        done = 0
        for deployment in self.all("apps/v1/deployments", namespace, copied=False):
            replicas = deployment["spec"].get("replicas", 1)
            if (deployment.get("status") or {}).get("availableReplicas") != replicas:
                status = {"replicas": replicas, "readyReplicas": replicas}
                status["availableReplicas"] = replicas
                await self.patch_status(
                    "apps/v1/deployments", namespace, deployment["metadata"]["name"], status
                )
                done += 1
        return done

    # ---- the API ------------------------------------------------------------------------

    def _resource_of(self, obj: dict) -> kmock.resource:
        api = obj["apiVersion"]
        for key, (kind, _, _) in RESOURCES.items():
            if kind == obj["kind"] and key.rsplit("/", 1)[0] == api:
                return kmock.resource(key)
        raise KeyError(f"unknown kind {api} {obj['kind']}")

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == request.method.value
                and fault.path.search(request.url.path)
            ):
                fault.times -= 1
                return _status(fault.status, "InternalError", "injected by the test")
        if request.resource is None or _rkey(request.resource) not in RESOURCES:
            return await super()._handle(request)
        method = request.method.value
        if method == "GET" and request.params.get("watch") != "true":
            # Served here: kmock matches each request against its whole request history.
            try:
                if request.name is None:
                    return aiohttp.web.json_response(await self._serve_list(request))
                return aiohttp.web.json_response(await self._serve_fetch(request))
            except kmock.KubernetesNotFoundError:
                return _status(404, "NotFound", f'"{request.name}" not found')
        if method == "PUT":
            return _status(405, "MethodNotAllowed", "this emulator takes merge patches only")
        if method not in ("POST", "PATCH", "DELETE"):
            return await super()._handle(request)
        namespaced = RESOURCES[_rkey(request.resource)][1]
        ns = request.namespace if namespaced else None
        async with self._write_lock:
            if method == "POST" and request.name is None:
                code, body = await self._create(request.resource, ns, request.data or {})
            elif method == "PATCH" and request.name:
                ctype = request.headers.get("Content-Type", "")
                data = request.data or {}
                if "json-patch" in ctype:
                    current = self.obj(_rkey(request.resource), ns, request.name)
                    if current is None:
                        return _status(404, "NotFound", f"{request.name} not found")
                    try:
                        data = _replacement(current, _json_patch(current, data))
                    except (ValueError, KeyError, IndexError) as exc:
                        return _status(422, "Invalid", f"the JSON patch failed: {exc}")
                elif "merge-patch" not in ctype and "strategic" not in ctype:
                    return _status(415, "UnsupportedMediaType", f"{ctype} is not supported")
                code, body = await self._update(
                    request.resource, ns, request.name, request.subresource, data
                )
            elif method == "DELETE" and request.name:
                code, body = await self._delete(request.resource, ns, request.name)
            else:
                return _status(405, "MethodNotAllowed", f"{method} {request.url.path}")
        if isinstance(body, aiohttp.web.Response):
            return body
        return aiohttp.web.json_response(body, status=code)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def _publish(self, resource: Any, kind: str, obj: dict) -> None:
        event = {"type": kind, "object": copy.deepcopy(obj)}
        rv = int(obj["metadata"]["resourceVersion"])
        self._log.setdefault(_rkey(resource), []).append((rv, event))
        await self._buses[resource].put(event)

    async def _create(self, resource: Any, ns: str | None, obj: dict) -> tuple[int, Any]:
        key_name = _rkey(resource)
        kind, namespaced, subresources = RESOURCES[key_name]
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            return 422, _status(422, "Invalid", "metadata.name: Required value")
        if namespaced:
            ns = ns or meta.get("namespace") or "default"
            if meta.get("namespace") not in (None, ns):
                return 400, _status(400, "BadRequest", "the namespace does not match the URL")
            if self.obj("v1/namespaces", None, ns) is None:
                return 404, _status(404, "NotFound", f'namespaces "{ns}" not found')
            meta["namespace"] = ns
        if self.obj(key_name, ns, meta["name"]) is not None:
            return 409, _status(409, "AlreadyExists", f'{kind} "{meta["name"]}" already exists')
        for field in ("deletionTimestamp", "resourceVersion", "uid", "generation"):
            meta.pop(field, None)
        if "status" in subresources:
            obj.pop("status", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()
        obj.setdefault("apiVersion", key_name.rsplit("/", 1)[0])
        obj.setdefault("kind", kind)
        key = (resource, ns, meta["name"])
        if key in self.objects:
            self.objects[key].create(obj)
        else:
            self.objects[key] = obj
        await self._publish(resource, "ADDED", obj)
        return 201, obj

    async def _update(
        self, resource: Any, ns: str | None, name: str, sub: str | None, patch: dict
    ) -> tuple[int, Any]:
        key_name = _rkey(resource)
        kind, _, subresources = RESOURCES[key_name]
        current = self.obj(key_name, ns, name)
        if current is None:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found')
        if sub not in (None, *subresources):
            return 404, _status(404, "NotFound", f"no subresource {sub}")
        patch = copy.deepcopy(patch)
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            return 409, _status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        if sub == "status":
            patch = {"status": patch.get("status")} if "status" in patch else {}
        elif "status" in subresources:
            patch.pop("status", None)
        meta_patch = patch.get("metadata") or {}
        for field in ("uid", "creationTimestamp", "generation", "resourceVersion", "namespace"):
            meta_patch.pop(field, None)
        meta_patch.pop("deletionTimestamp", None)
        new = _merge(current, patch)
        if new == current:
            return 200, current
        spec_of = {k: v for k, v in current.items() if k not in ("metadata", "status")}
        spec_new = {k: v for k, v in new.items() if k not in ("metadata", "status")}
        if spec_of != spec_new:
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[(resource, ns, name)].create(new)
        await self._publish(resource, "MODIFIED", new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            await self._erase(resource, ns, name)
        return 200, new

    async def _delete(self, resource: Any, ns: str | None, name: str) -> tuple[int, Any]:
        key_name = _rkey(resource)
        kind = RESOURCES[key_name][0]
        current = self.obj(key_name, ns, name)
        if current is None:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found')
        if current["metadata"].get("finalizers"):
            if not current["metadata"].get("deletionTimestamp"):
                current["metadata"]["deletionTimestamp"] = datetime.now(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                current["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[(resource, ns, name)].create(current)
                await self._publish(resource, "MODIFIED", current)
            return 200, current
        await self._erase(resource, ns, name)
        return 200, current

    async def _erase(self, resource: Any, ns: str | None, name: str) -> None:
        """Remove an object, then (as the garbage collector would) what it owned."""
        obj = self.obj(_rkey(resource), ns, name)
        if obj is None:
            return
        self.objects[(resource, ns, name)].delete()
        obj["metadata"]["resourceVersion"] = self._next_rv()
        await self._publish(resource, "DELETED", obj)
        uid = obj["metadata"]["uid"]
        for (res, child_ns, child_name), child in list(self.objects.items()):
            if child.deleted:
                continue
            raw = child.raw
            owned = any(o.get("uid") == uid for o in raw["metadata"].get("ownerReferences", []))
            contained = _rkey(resource) == "v1/namespaces" and child_ns == name
            if owned or contained:
                await self._delete(res, child_ns, child_name)

    # ---- lists and watches with resource versions -----------------------------------------

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        """By key (kmock scans every object for each GET)."""
        assert request.resource is not None and request.name is not None
        if _rkey(request.resource) not in RESOURCES:
            return await super()._serve_fetch(request)
        namespaced = RESOURCES[_rkey(request.resource)][1]
        ns = request.namespace if namespaced else None
        found = self.obj(_rkey(request.resource), ns, request.name, copied=False)
        if found is None or request.subresource not in (None, "status"):
            raise kmock.KubernetesObjectNotFoundError()
        return found

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        answer = await super()._serve_list(request)
        answer["metadata"] = {"resourceVersion": str(self._rv)}
        selector = request.params.get("labelSelector")
        if selector:
            wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
            answer["items"] = [
                item
                for item in answer["items"]
                if all(
                    (item["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items()
                )
            ]
        return answer

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        yield b""
        assert request.resource is not None
        since = int(request.params.get("resourceVersion") or 0)
        bus = self._buses[request.resource]
        mark = await bus.mark()
        try:
            if since == 0:
                for obj in self.all(_rkey(request.resource), request.namespace):
                    yield {"type": "ADDED", "object": obj}
                since = self._rv
            for rv, event in list(self._log.get(_rkey(request.resource), [])):
                if rv > since and self._matches(request, event):
                    since = rv
                    yield event
            async for event in bus.stream(since=mark):
                rv = int(event["object"]["metadata"]["resourceVersion"])
                if rv > since and self._matches(request, event):
                    since = rv
                    yield event
        finally:
            await bus.unmark(mark)

    @staticmethod
    def _matches(request: rendering.Request, event: dict) -> bool:
        ns = event["object"]["metadata"].get("namespace")
        return request.namespace is None or ns == request.namespace
