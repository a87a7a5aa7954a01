"""The controllers of the simulated cluster: Deployments -> Pods, Services -> Endpoints.

    controllers = Controllers(kube)      # an admin client
    await controllers.start() ... await controllers.stop()

Deployments own their Pods directly (ownerReferences to the Deployment, controller=true);
there are no ReplicaSets. A pod template's hash (`pod-template-hash` label) tells the new
pods from the old ones, as the real controller's ReplicaSets do. What the Deployment
controller does here, as the real one does:

- `replicas`, and a rolling update within `maxSurge` (default 25%, rounded up) and
  `maxUnavailable` (25%, rounded down): new pods are created while the total stays
  within replicas + maxSurge, old pods removed while at least replicas - maxUnavailable
  are available (unready old pods first);
- `Recreate`: every old pod gone before a new one is created;
- a refused pod create (quota admission's 403, a 422) is the `ReplicaFailure` condition
  (reason FailedCreate, the server's message); `Progressing` turns False with
  ProgressDeadlineExceeded after `progressDeadlineSeconds` without progress;
- status from the pods' real readiness: replicas, updatedReplicas, readyReplicas,
  availableReplicas (ready for `minReadySeconds`), unavailableReplicas,
  observedGeneration, and the `Available` and `Progressing` conditions.

The ServiceAccount controller creates the `default` ServiceAccount of every namespace.

The Endpoints controller writes, for each Service with a selector, the ready pods
(`addresses`) and the others with an IP (`notReadyAddresses`), `targetPort` names resolved
against each pod's container ports.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from datetime import UTC, datetime

from tests.support.cluster.background import cancel_all
from tests.support.cluster.client import ApiError, KubeClient, map_selector_matches
from tests.support.cluster.selectors import selector_matches


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    # Kubernetes' alphabet for such suffixes (no vowels, no 0/1/3).
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


def scaled(value: int | str | None, replicas: int, default: str, round_up: bool) -> int:
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    if value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def pod_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


class Controllers:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.pods: dict[tuple[str, str], dict] = {}
        self.deployments: dict[tuple[str, str], dict] = {}
        self.services: dict[tuple[str, str], dict] = {}
        self.namespaces: dict[tuple[str, str], dict] = {}
        self._sa_done: set[str] = set()
        self._sa_tasks: set[asyncio.Task] = set()
        self._tasks: list[asyncio.Task] = []
        self._dirty_deploy: set[tuple[str, str]] = set()
        self._dirty_ns: set[str] = set()
        self._wake = asyncio.Event()
        self._ready_since: dict[str, float] = {}
        self._failure: dict[tuple[str, str], str] = {}
        self._progress_at: dict[tuple[str, str], float] = {}
        self._written_eps: dict[tuple[str, str], dict] = {}
        self._written_status: dict[tuple[str, str], dict] = {}
        self.errors: list[str] = []

    async def __aenter__(self) -> Controllers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        for api_version, plural in (
            ("v1", "pods"),
            ("apps/v1", "deployments"),
            ("v1", "services"),
            ("v1", "namespaces"),
        ):
            self._tasks.append(asyncio.create_task(self._watch(api_version, plural)))
        self._tasks.append(asyncio.create_task(self._loop()))
        self._tasks.append(asyncio.create_task(self._ticker()))

    async def stop(self) -> None:
        await cancel_all(self._tasks)

    # ---- watches --------------------------------------------------------------------------

    async def _watch(self, api_version: str, plural: str) -> None:
        store = {
            "pods": self.pods,
            "deployments": self.deployments,
            "services": self.services,
            "namespaces": self.namespaces,
        }[plural]
        while True:
            try:
                async for kind, obj in self.kube.watch(api_version, plural):
                    meta = obj["metadata"]
                    key = (meta.get("namespace"), meta["name"])
                    if kind == "DELETED":
                        store.pop(key, None)
                    else:
                        store[key] = obj
                    self._touch(plural, key, obj)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors.append(f"watch {plural}: {exc}")
                await asyncio.sleep(0.5)

    def _touch(self, plural: str, key: tuple[str, str], obj: dict) -> None:
        if plural == "namespaces":
            if not obj["metadata"].get("deletionTimestamp") and key[1] not in self._sa_done:
                self._sa_done.add(key[1])
                task = asyncio.get_running_loop().create_task(self._default_sa(key[1]))
                self._sa_tasks.add(task)
                task.add_done_callback(self._sa_tasks.discard)
            return
        ns = key[0]
        self._dirty_ns.add(ns)
        if plural == "deployments":
            self._dirty_deploy.add(key)
        elif plural == "pods":
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    self._dirty_deploy.add((ns, ref["name"]))
            uid = obj["metadata"].get("uid", "")
            if pod_ready(obj):
                self._ready_since.setdefault(uid, time.monotonic())
            else:
                self._ready_since.pop(uid, None)
        self._wake.set()

    async def _ticker(self) -> None:
        """minReadySeconds and progress deadlines need a clock, not only events."""
        while True:
            await asyncio.sleep(1.0)
            self._dirty_deploy.update(self.deployments)
            self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(0.02)
            self._wake.clear()
            deploys, self._dirty_deploy = self._dirty_deploy, set()
            namespaces, self._dirty_ns = self._dirty_ns, set()
            for key in sorted(deploys):
                try:
                    await self.reconcile_deployment(key)
                except Exception as exc:
                    self.errors.append(f"deployment {key}: {exc!r}")
            for ns in sorted(n for n in namespaces if n):
                try:
                    await self.reconcile_endpoints(ns)
                except Exception as exc:
                    self.errors.append(f"endpoints {ns}: {exc}")

    # ---- ServiceAccounts ------------------------------------------------------------------

    async def _default_sa(self, ns: str) -> None:
        """The ServiceAccount controller: every namespace has a `default` ServiceAccount."""
        try:
            await self.kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": ns},
                }
            )
        except ApiError as exc:
            if exc.status not in (409, 403, 404):  # exists; namespace terminating or gone
                self.errors.append(f"default serviceaccount in {ns}: {exc}")

    # ---- Deployments ----------------------------------------------------------------------

    def _owned(self, deployment: dict) -> list[dict]:
        uid = deployment["metadata"]["uid"]
        ns = deployment["metadata"]["namespace"]
        return [
            p
            for (pns, _), p in self.pods.items()
            if pns == ns
            and any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]

    def _available(self, pod: dict, min_ready: int) -> bool:
        since = self._ready_since.get(pod["metadata"]["uid"])
        return since is not None and time.monotonic() - since >= min_ready

    async def reconcile_deployment(self, key: tuple[str, str]) -> None:
        deployment = self.deployments.get(key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        spec = deployment["spec"]
        replicas = int(spec.get("replicas", 1))
        template = spec["template"]
        thash = template_hash(template)
        strategy = spec.get("strategy") or {}
        min_ready = int(spec.get("minReadySeconds", 0))
        owned = [p for p in self._owned(deployment) if pod_active(p)]
        terminating = [p for p in self._owned(deployment) if p["metadata"].get("deletionTimestamp")]
        new = [
            p for p in owned if p["metadata"].get("labels", {}).get("pod-template-hash") == thash
        ]
        old = [p for p in owned if p not in new]
        available = [p for p in owned if self._available(p, min_ready)]

        if not spec.get("paused"):
            if strategy.get("type") == "Recreate":
                if old:
                    for p in old:
                        await self._delete_pod(p)
                elif not terminating:
                    await self._scale(deployment, new, replicas, thash, min_ready)
            else:
                ru = strategy.get("rollingUpdate") or {}
                surge = scaled(ru.get("maxSurge"), replicas, "25%", True)
                unavailable = scaled(ru.get("maxUnavailable"), replicas, "25%", False)
                if surge == 0 and unavailable == 0:
                    unavailable = 1
                if not old:
                    await self._scale(deployment, new, replicas, thash, min_ready)
                else:
                    # Scale up the new pods within the surge.
                    room = replicas + surge - len(owned)
                    want_new = min(replicas - len(new), room)
                    for _ in range(max(0, want_new)):
                        if not await self._create_pod(deployment, thash):
                            break
                    # Scale down old pods: unready ones first, then within maxUnavailable.
                    min_available = replicas - unavailable
                    can_remove = len(available) - min_available
                    for p in sorted(old, key=lambda p: self._available(p, min_ready)):
                        if not self._available(p, min_ready):
                            await self._delete_pod(p)
                        elif can_remove > 0:
                            await self._delete_pod(p)
                            can_remove -= 1
        await self._write_deployment_status(deployment, owned, new, available, thash, replicas)

    async def _scale(
        self, deployment: dict, new: list[dict], replicas: int, thash: str, min_ready: int
    ) -> None:
        if len(new) < replicas:
            for _ in range(replicas - len(new)):
                if not await self._create_pod(deployment, thash):
                    break
        elif len(new) > replicas:
            # Unready, then youngest first, as the ReplicaSet controller picks.
            victims = sorted(
                new,
                key=lambda p: (
                    self._available(p, min_ready),
                    -time.mktime(
                        time.strptime(p["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
                    ),
                ),
            )
            for p in victims[: len(new) - replicas]:
                await self._delete_pod(p)

    async def _create_pod(self, deployment: dict, thash: str) -> bool:
        meta = deployment["metadata"]
        key = (meta["namespace"], meta["name"])
        template = json.loads(json.dumps(deployment["spec"]["template"]))
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), "pod-template-hash": thash}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-{thash}-",
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": tmeta.get("annotations") or {},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        try:
            created = await self.kube.create(pod)
        except ApiError as exc:
            self._failure[key] = exc.message
            return False
        self._failure.pop(key, None)
        self._progress_at[key] = time.monotonic()
        ckey = (created["metadata"]["namespace"], created["metadata"]["name"])
        self.pods.setdefault(ckey, created)
        return True

    async def _delete_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        await self.kube.delete("v1", "pods", meta["name"], meta["namespace"])
        self.pods.pop((meta["namespace"], meta["name"]), None)
        for ref in meta.get("ownerReferences") or []:
            self._progress_at[(meta["namespace"], ref["name"])] = time.monotonic()

    async def _write_deployment_status(
        self,
        deployment: dict,
        owned: list[dict],
        new: list[dict],
        available: list[dict],
        thash: str,
        replicas: int,
    ) -> None:
        meta = deployment["metadata"]
        key = (meta["namespace"], meta["name"])
        spec = deployment["spec"]
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            max_unavailable = replicas
        else:
            max_unavailable = scaled(ru.get("maxUnavailable"), replicas, "25%", False)
        ready = [p for p in owned if pod_ready(p)]
        complete = (
            len(new) == replicas
            and len(owned) == replicas
            and all(self._available(p, int(spec.get("minReadySeconds", 0))) for p in new)
        )
        previous = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}

        def condition(kind: str, ok: bool, reason: str, message: str) -> dict:
            old = previous.get(kind)
            status = "True" if ok else "False"
            changed = old is None or old.get("status") != status
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastUpdateTime": now()
                if changed or old.get("reason") != reason
                else old.get("lastUpdateTime"),
                "lastTransitionTime": now() if changed else old.get("lastTransitionTime"),
            }

        is_available = len(available) >= replicas - max_unavailable
        conditions = [
            condition(
                "Available",
                is_available,
                "MinimumReplicasAvailable" if is_available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if is_available
                else "Deployment does not have minimum availability.",
            )
        ]
        deadline = int(spec.get("progressDeadlineSeconds", 600))
        self._progress_at.setdefault(key, time.monotonic())
        name = f"{meta['name']}-{thash}"
        if complete:
            progressing = condition(
                "Progressing",
                True,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
            )
        elif time.monotonic() - self._progress_at[key] > deadline:
            progressing = condition(
                "Progressing",
                False,
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
            )
        else:
            progressing = condition(
                "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'
            )
        conditions.append(progressing)
        if key in self._failure:
            conditions.append(condition("ReplicaFailure", True, "FailedCreate", self._failure[key]))
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(owned),
            "updatedReplicas": len(new),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "unavailableReplicas": max(0, replicas - len(available)),
            "conditions": conditions,
        }
        if self._written_status.get(key) == _timeless(status) and _timeless(
            deployment.get("status") or {}
        ) == _timeless(status):
            return
        try:
            await self.kube.patch(
                "apps/v1",
                "deployments",
                meta["name"],
                {"status": status},  # the conditions list is replaced whole
                meta["namespace"],
                subresource="status",
            )
            self._written_status[key] = _timeless(status)
        except ApiError as exc:
            if exc.status != 404:
                raise

    # ---- Endpoints ------------------------------------------------------------------------

    async def reconcile_endpoints(self, ns: str) -> None:
        for (sns, name), service in list(self.services.items()):
            if sns != ns:
                continue
            selector = (service.get("spec") or {}).get("selector")
            if not selector:
                continue  # Endpoints of a Service without selector are someone else's
            subsets = self.endpoint_subsets(
                service, [p for (pns, _), p in self.pods.items() if pns == ns]
            )
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": (service["metadata"].get("labels") or {}),
                },
                "subsets": subsets,
            }
            if self._written_eps.get((ns, name)) == body:
                continue
            try:
                await self.kube.apply(body)
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            self._written_eps[(ns, name)] = body
        for key in [k for k in self._written_eps if k[0] == ns and k not in self.services]:
            self._written_eps.pop(key, None)

    @staticmethod
    def endpoint_subsets(service: dict, pods: list[dict]) -> list[dict]:
        spec = service.get("spec") or {}
        groups: dict[tuple, dict] = {}
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if not map_selector_matches(spec.get("selector"), pod["metadata"].get("labels")):
                continue
            status = pod.get("status") or {}
            ip = status.get("podIP")
            if not ip or not pod_active(pod):
                continue
            ports = []
            for sp in spec.get("ports") or []:
                target = sp.get("targetPort", sp["port"])
                proto = sp.get("protocol") or "TCP"
                if isinstance(target, str) and not target.isdigit():
                    number = next(
                        (
                            cp["containerPort"]
                            for c in (pod.get("spec") or {}).get("containers") or []
                            for cp in c.get("ports") or []
                            if cp.get("name") == target and (cp.get("protocol") or "TCP") == proto
                        ),
                        None,
                    )
                    if number is None:
                        continue
                    target = number
                port = {"port": int(target), "protocol": proto}
                if sp.get("name"):
                    port["name"] = sp["name"]
                ports.append(port)
            if not ports:
                continue
            gkey = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
            group = groups.setdefault(gkey, {"ports": ports})
            address = {
                "ip": ip,
                "targetRef": {
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "namespace": pod["metadata"]["namespace"],
                    "uid": pod["metadata"].get("uid"),
                },
            }
            bucket = "addresses" if pod_ready(pod) else "notReadyAddresses"
            group.setdefault(bucket, []).append(address)
        return [groups[k] for k in sorted(groups)]


def _timeless(status: dict) -> dict:
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k not in ("lastUpdateTime", "lastTransitionTime")}
        for c in status.get("conditions") or []
    ]
    return out


__all__ = ["Controllers", "selector_matches", "template_hash"]
