"""The Dapr sidecar injector (and the part of Dapr's operator a sidecar depends on), for the
simulated cluster.

`await inject(pod, kube)` is what the node calls for a pod annotated `dapr.io/enabled:
"true"` before it starts the pod. It returns the sidecar container(s) to run beside the
app's, as pod container dicts plus `files` ({path: content}, mounted read-only into that
container), and creates the `<app-id>-dapr` Service, as Dapr's operator does.

What it does, as Dapr does it:

- reads the pod's `dapr.io/*` annotations (app-id, app-port, app-protocol, config,
  app-token-secret, log-level, enable-metrics, metrics-port, sidecar-{cpu,memory}-
  {request,limit}, graceful-shutdown-seconds, block-shutdown-duration,
  disable-builtin-k8s-secret-store, app-max-concurrency);
- gives the sidecar only the Components, Configuration, Resiliencies and Subscriptions of
  the pod's namespace whose `scopes` include the app-id (no scopes = every app);
- resolves the components' `secretKeyRef`s that use the `kubernetes` secret store (the
  default) from the namespace's Secrets, with its own rights, as Dapr's operator does when
  the sidecar lists its components. A Secret that does not exist fails that listing, and
  with it the sidecar's start (the double exits 1); a missing key leaves the value empty.
  References to other secret stores are left to the sidecar;
- the sidecar is the double (`python -m shopfleet.devtools.sidecar_double`) in Kubernetes mode, with
  Kubernetes name resolution: `<app-id>` and `<app-id>.<ns>` reach
  `<app-id>-dapr.<ns>.svc.cluster.local:50002`;
- `APP_API_TOKEN` comes from the app-token Secret (key `token`), `NAMESPACE`, `POD_NAME`
  and `POD_IP` from the pod (fieldRef). The pod's ServiceAccount token is the kubelet's
  business: like daprd, the double reads it at the usual path when the pod mounts it.

`kube` is the simulation's client (tests/support/cluster/client.py); only `get`, `list`
and `apply` are used.
"""

from __future__ import annotations

import copy
import logging
import secrets
from typing import Any, Protocol

import yaml

from shopfleet.devtools.sidecar_double.resources import OPERATOR_ERROR_ANNOTATION

log = logging.getLogger("cluster.dapr")

ANNOTATION = "dapr.io/"
SIDECAR_NAME = "daprd"
# The image the node runs as the double: the project's virtual env, like the app's image.
SIDECAR_IMAGE = "docker.io/daprio/daprd:1.16.0"
SIDECAR_COMMAND = ["python", "-m", "shopfleet.devtools.sidecar_double"]
RESOURCES_DIR = "/etc/dapr/resources"
PEER_SECRET_PATH = "/var/run/secrets/dapr.io/peer-secret"
HTTP_PORT, GRPC_PORT, INTERNAL_PORT, METRICS_PORT = 3500, 50001, 50002, 9090
DAPR_VERSIONS = ("v1alpha1", "v2alpha1")
DEFAULT_GRACEFUL_SHUTDOWN_S = 5

# The annotations Dapr's injector knows (docs.dapr.io, arguments-annotations-overview). The
# double ignores most; one not in this list is probably misspelt: Dapr ignores it silently,
# the injector warns (`unknown_annotations`).
KNOWN_ANNOTATIONS = {
    "enabled",
    "app-id",
    "app-port",
    "app-protocol",
    "app-ssl",
    "config",
    "app-token-secret",
    "api-token-secret",
    "log-level",
    "log-as-json",
    "enable-api-logging",
    "enable-metrics",
    "metrics-port",
    "metrics-exclude-path",
    "enable-debug",
    "debug-port",
    "enable-profiling",
    "env",
    "app-max-concurrency",
    "sidecar-cpu-request",
    "sidecar-cpu-limit",
    "sidecar-memory-request",
    "sidecar-memory-limit",
    "sidecar-ephemeral-storage-request",
    "sidecar-ephemeral-storage-limit",
    "http-max-request-size",
    "max-body-size",
    "http-read-buffer-size",
    "read-buffer-size",
    "graceful-shutdown-seconds",
    "block-shutdown-duration",
    "unix-domain-socket-path",
    "volume-mounts",
    "volume-mounts-rw",
    "disable-builtin-k8s-secret-store",
    "enable-app-health-check",
    "app-health-check-path",
    "app-health-probe-interval",
    "app-health-probe-timeout",
    "app-health-threshold",
    "placement-host-address",
    "scheduler-host-address",
    "sidecar-listen-addresses",
    "sidecar-image",
    "sidecar-seccomp-profile-type",
    "sidecar-run-as-user",
    "sidecar-run-as-group",
    "sidecar-drop-all-capabilities",
    "app-channel-address",
    "sidecar-liveness-probe-delay-seconds",
    "sidecar-liveness-probe-timeout-seconds",
    "sidecar-liveness-probe-period-seconds",
    "sidecar-liveness-probe-threshold",
    "sidecar-readiness-probe-delay-seconds",
    "sidecar-readiness-probe-timeout-seconds",
    "sidecar-readiness-probe-period-seconds",
    "sidecar-readiness-probe-threshold",
    "inject-pluggable-components",
    "pluggable-components",
    "component-container",
}

# One trust domain per process (the stand-in for Sentry's trust bundle): every sidecar of
# the simulated cluster shares it, nothing else knows it.
_TRUST = secrets.token_urlsafe(24)


class Kube(Protocol):
    async def get(
        self, api_version: str, plural: str, name: str, namespace: str | None = None
    ) -> dict | None: ...

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]: ...

    async def apply(self, obj: dict) -> Any: ...


class InjectionError(Exception):
    """The injector refuses the pod (as Dapr's webhook would)."""


def annotations(pod: dict) -> dict[str, str]:
    return {
        k[len(ANNOTATION) :]: str(v)
        for k, v in ((pod.get("metadata") or {}).get("annotations") or {}).items()
        if k.startswith(ANNOTATION)
    }


def unknown_annotations(pod: dict) -> list[str]:
    """`dapr.io/*` annotations Dapr does not know (misspelt ones: Dapr ignores them)."""
    return sorted(f"{ANNOTATION}{k}" for k in annotations(pod) if k not in KNOWN_ANNOTATIONS)


def enabled(pod: dict) -> bool:
    return annotations(pod).get("enabled", "").lower() in {"true", "1", "yes", "on", "y"}


def _in_scope(doc: dict, app_id: str) -> bool:
    scopes = doc.get("scopes") or []
    return not scopes or app_id in scopes


async def _list_dapr(kube: Kube, plural: str, namespace: str) -> list[dict]:
    found: dict[str, dict] = {}
    for version in DAPR_VERSIONS if plural == "subscriptions" else DAPR_VERSIONS[:1]:
        try:
            items = await kube.list(f"dapr.io/{version}", plural, namespace=namespace)
        except Exception:  # a version the API server does not serve
            continue
        for item in items:
            found.setdefault(item["metadata"]["name"], item)
    return [found[name] for name in sorted(found)]


async def _resolve_component(component: dict, namespace: str, kube: Kube) -> dict:
    """As Dapr's operator in ListComponents: kubernetes-store refs from the namespace's
    Secrets; a missing Secret is an error for the whole sidecar."""
    component = copy.deepcopy(component)
    store = ((component.get("auth") or {}).get("secretStore")) or ""
    if store not in {"", "kubernetes"}:
        return component
    for item in (component.get("spec") or {}).get("metadata") or []:
        ref = item.get("secretKeyRef")
        if not ref or not ref.get("name"):
            continue
        secret = await kube.get("v1", "secrets", ref["name"], namespace=namespace)
        if secret is None:
            meta = component.setdefault("metadata", {})
            meta.setdefault("annotations", {})[OPERATOR_ERROR_ANNOTATION] = (
                f"error processing component {meta.get('name')} secrets: "
                f'secrets "{ref["name"]}" not found'
            )
            continue
        import base64

        key = ref.get("key") or ref["name"]
        data = secret.get("data") or {}
        item.pop("secretKeyRef")
        item["value"] = base64.b64decode(data[key]).decode() if key in data else ""
    return component


def _quantity_resources(ann: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for kind, plural in (("request", "requests"), ("limit", "limits")):
        for resource in ("cpu", "memory"):
            value = ann.get(f"sidecar-{resource}-{kind}")
            if value:
                out.setdefault(plural, {})[resource] = value
    return out


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    from shopfleet.devtools.sidecar_double.metadata_values import seconds as parse

    return parse(text, 0.0)


async def _owner_selector(pod: dict, kube: Kube) -> tuple[dict[str, str], list[dict]]:
    """The Deployment's selector (what Dapr's operator gives the `-dapr` Service) and an
    owner reference to it; else the pod's own labels."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") != "ReplicaSet":
            continue
        rs = await kube.get("apps/v1", "replicasets", ref["name"], namespace=ns)
        for owner in ((rs or {}).get("metadata") or {}).get("ownerReferences") or []:
            if owner.get("kind") != "Deployment":
                continue
            deployment = await kube.get("apps/v1", "deployments", owner["name"], namespace=ns)
            if deployment:
                selector = deployment["spec"]["selector"].get("matchLabels") or {}
                dmeta = deployment["metadata"]
                return dict(selector), [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": dmeta["name"],
                        "uid": dmeta.get("uid", ""),
                        "controller": False,
                    }
                ]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    return labels, []


def dapr_service(app_id: str, namespace: str, selector: dict[str, str], owners: list[dict]) -> dict:
    meta: dict[str, Any] = {
        "name": f"{app_id}-dapr",
        "namespace": namespace,
        "labels": {"dapr.io/enabled": "true"},
        "annotations": {"dapr.io/app-id": app_id},
    }
    if owners:
        meta["ownerReferences"] = owners
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": selector,
            "ports": [
                {"name": "dapr-http", "port": 80, "targetPort": HTTP_PORT, "protocol": "TCP"},
                {"name": "dapr-grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT},
                {"name": "dapr-internal", "port": INTERNAL_PORT, "targetPort": INTERNAL_PORT},
                {"name": "dapr-metrics", "port": METRICS_PORT, "targetPort": METRICS_PORT},
            ],
        },
    }


async def inject(pod: dict, kube: Kube, *, prefix: str = "", service: bool = True) -> list[dict]:
    """The sidecar container(s) for `pod` (none unless `dapr.io/enabled: "true"`).

    `prefix`: the double's namespace for Redis keys, exchanges and queues (one per run when
    runs share a Redis or a vhost); daprd has none, so "" by default."""
    if not enabled(pod):
        return []
    ann = annotations(pod)
    meta = pod.get("metadata") or {}
    for unknown in unknown_annotations(pod):
        log.warning(
            f'unknown annotation "{unknown}" on pod {meta.get("namespace")}/{meta.get("name")}'
        )
    namespace = meta.get("namespace") or "default"
    app_id = ann.get("app-id") or meta.get("name") or ""
    if not app_id:
        raise InjectionError("dapr.io/app-id is required (the pod has no name either)")
    protocol = ann.get("app-protocol", "http")
    if protocol not in {"http", "grpc", "https", "grpcs", "h2c"}:
        raise InjectionError(f"dapr.io/app-protocol {protocol!r} is not a Dapr protocol")

    files: dict[str, str] = {}
    for plural in ("components", "resiliencies", "subscriptions"):
        for doc in await _list_dapr(kube, plural, namespace):
            if not _in_scope(doc, app_id):
                continue
            if plural == "components":
                doc = await _resolve_component(doc, namespace, kube)
            files[f"{RESOURCES_DIR}/{plural}-{doc['metadata']['name']}.yaml"] = yaml.safe_dump(
                doc, sort_keys=False
            )
    args = [
        "--app-id",
        app_id,
        "--mode",
        "kubernetes",
        "--namespace",
        namespace,
        "--host",
        "0.0.0.0",
        "--app-host",
        "127.0.0.1",
        "--http-port",
        str(HTTP_PORT),
        "--grpc-port",
        str(GRPC_PORT),
        "--dapr-internal-grpc-port",
        str(INTERNAL_PORT),
        "--name-resolution",
        "kubernetes",
        "--resources-path",
        RESOURCES_DIR,
        "--peer-secret-file",
        PEER_SECRET_PATH,
        "--prefix",
        prefix,
        "--log-level",
        ann.get("log-level", "info").upper(),
    ]
    files[PEER_SECRET_PATH] = _TRUST
    if ann.get("app-port"):
        args += ["--app-port", ann["app-port"]]
    if protocol != "http":
        args += ["--app-protocol", protocol]
    if ann.get("app-max-concurrency"):
        args += ["--app-max-concurrency", ann["app-max-concurrency"]]
    config_name = ann.get("config")
    if config_name:
        configuration = await kube.get(
            "dapr.io/v1alpha1", "configurations", config_name, namespace=namespace
        )
        if configuration is None:
            # daprd: "error loading configuration ... not found": the sidecar cannot start
            args += ["--config", config_name]
        else:
            path = f"{RESOURCES_DIR}/configuration-{config_name}.yaml"
            files[path] = yaml.safe_dump(configuration, sort_keys=False)
            args += ["--config", path]
    if ann.get("disable-builtin-k8s-secret-store", "").lower() == "true":
        args.append("--disable-builtin-k8s-secret-store")
    metrics = ann.get("enable-metrics", "true").lower() != "false"
    metrics_port = int(ann.get("metrics-port") or METRICS_PORT)
    args += [
        "--enable-metrics",
        "true" if metrics else "false",
        "--metrics-port",
        str(metrics_port),
    ]
    shutdown = _seconds(ann.get("graceful-shutdown-seconds"))
    grace = shutdown if shutdown is not None else DEFAULT_GRACEFUL_SHUTDOWN_S
    args += ["--dapr-graceful-shutdown-seconds", str(int(grace))]
    block = ann.get("block-shutdown-duration")
    if block:
        args += ["--dapr-block-shutdown-duration", block]

    env: list[dict[str, Any]] = [
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "DAPR_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    if ann.get("app-token-secret"):
        ref = {"name": ann["app-token-secret"], "key": "token"}
        env.append({"name": "APP_API_TOKEN", "valueFrom": {"secretKeyRef": ref}})

    probe = {
        "httpGet": {"path": "/v1.0/healthz", "port": HTTP_PORT},
        "periodSeconds": 6,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
        "initialDelaySeconds": 1,
    }
    container: dict[str, Any] = {
        "name": SIDECAR_NAME,
        "image": SIDECAR_IMAGE,
        "command": list(SIDECAR_COMMAND),
        "args": args,
        "env": env,
        "ports": [
            {"name": "dapr-http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "dapr-grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "dapr-internal", "containerPort": INTERNAL_PORT, "protocol": "TCP"},
            {"name": "dapr-metrics", "containerPort": metrics_port, "protocol": "TCP"},
        ],
        "readinessProbe": probe,
        # daprd's liveness probe: the sidecar's own health, not the app's
        "livenessProbe": {
            **probe,
            "httpGet": {"path": "/v1.0/healthz/outbound", "port": HTTP_PORT},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "files": files,
    }
    resources = _quantity_resources(ann)
    if resources:
        container["resources"] = resources

    selector, owners = await _owner_selector(pod, kube)
    if service:  # not when the node only re-reads a restarted sidecar's resources
        await kube.apply(dapr_service(app_id, namespace, selector, owners))
    return [container]
