"""The API server of the simulated cluster: kmock's storage behind kube-apiserver's behaviour.

kmock 0.8's `KubernetesEmulator` stores bodies as sent and replays every object on each
watch. In front of its storage, this server does what kube-apiserver does where it
matters to us (see tests/support/cluster/README.md for the differences that remain):

- HTTPS with a generated CA (`serving(...)`), and the plain-HTTP entry of the operator
  tier (`kmock.Server(api)`): a request without credentials there is the cluster admin,
  as on kube-apiserver's old insecure port;
- authentication by bearer token: `admin_token` (group system:masters), ServiceAccount
  tokens (`issue_token`, TokenRequest); an unknown token, or the token of a ServiceAccount
  that no longer exists, is 401;
- RBAC evaluated from the stored Roles, ClusterRoles and bindings (rbac.py): 403 with the
  real server's message;
- metadata a real server assigns: uid, resourceVersion (one counter, bumped on every
  change and only on a change), generation (bumped on spec changes), creationTimestamp,
  names from generateName, ClusterIPs from the Service CIDR, a few defaults;
- create (POST), replace (PUT), merge, strategic-merge and JSON patches, with a
  `metadata.resourceVersion` precondition (409 on a stale one);
- the status subresource: writes to the object ignore `status`, writes to `/status`
  change only `status`;
- validation on write (schemas.py): CRD structural schemas (defaulting, pruning, CEL),
  built-in kinds against the Kubernetes OpenAPI schemas, quantities stored canonical;
  422 Invalid with `details.causes`;
- admission (admission.py): NamespaceLifecycle, ServiceAccount (a pod's account must
  exist), PodSecurity, ResourceQuota for pods;
- deletion: finalizers delay it, then the garbage collector removes dependents
  (ownerReferences); a deleted namespace is Terminating until the namespace controller
  has deleted its contents;
- lists and watches with label and field selectors; watches start after the given
  resourceVersion (no replay of old objects);
- `/api/v1/namespaces[/name]` paths (kmock 0.8 misparses them);
- injected faults: `api.fail("PATCH", "/configmaps/", status=500, times=2)`;
- an audit of every resource request (`api.audit`): who, what, allowed, the answer.

Tests may also play the missing controllers: `await api.make_available(...)` is the
kubelet and the Deployment controller reporting a Deployment available.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import attrs
import kmock
from kmock._internal import parsing, rendering

from tests.support.cluster import admission, rbac, schemas
from tests.support.cluster.rbac import ADMIN, Attributes, User

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

# ---- the resources a cluster with Dapr serves (CRDs add theirs when applied) ---------------


@dataclass
class ResourceType:
    kind: str
    namespaced: bool
    subresources: set[str]
    schema: schemas.CrdSchema | None = None  # CRDs only
    crd: str | None = None  # the CRD's name

    def group_of(self, key: str) -> str:
        parts = key.split("/")
        return parts[0] if len(parts) == 3 else ""


BUILTIN: dict[str, tuple[str, bool, set[str]]] = {
    # "group/version/plural": (kind, namespaced, subresources)
    "v1/namespaces": ("Namespace", False, {"status", "finalize"}),
    "v1/nodes": ("Node", False, {"status"}),
    "v1/pods": ("Pod", True, {"status", "log", "binding", "eviction"}),
    "v1/endpoints": ("Endpoints", True, set()),
    "v1/configmaps": ("ConfigMap", True, set()),
    "v1/secrets": ("Secret", True, set()),
    "v1/services": ("Service", True, {"status"}),
    "v1/serviceaccounts": ("ServiceAccount", True, {"token"}),
    "v1/resourcequotas": ("ResourceQuota", True, {"status"}),
    "v1/limitranges": ("LimitRange", True, set()),
    "v1/persistentvolumeclaims": ("PersistentVolumeClaim", True, {"status"}),
    "v1/events": ("Event", True, set()),
    "events.k8s.io/v1/events": ("Event", True, set()),
    "apps/v1/deployments": ("Deployment", True, {"status", "scale"}),
    "apps/v1/replicasets": ("ReplicaSet", True, {"status", "scale"}),
    "apps/v1/statefulsets": ("StatefulSet", True, {"status", "scale"}),
    "batch/v1/jobs": ("Job", True, {"status"}),
    "policy/v1/poddisruptionbudgets": ("PodDisruptionBudget", True, {"status"}),
    "rbac.authorization.k8s.io/v1/roles": ("Role", True, set()),
    "rbac.authorization.k8s.io/v1/rolebindings": ("RoleBinding", True, set()),
    "rbac.authorization.k8s.io/v1/clusterroles": ("ClusterRole", False, set()),
    "rbac.authorization.k8s.io/v1/clusterrolebindings": ("ClusterRoleBinding", False, set()),
    "networking.k8s.io/v1/ingresses": ("Ingress", True, {"status"}),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True, set()),
    "coordination.k8s.io/v1/leases": ("Lease", True, set()),
    "dapr.io/v1alpha1/components": ("Component", True, set()),
    "dapr.io/v1alpha1/configurations": ("Configuration", True, set()),
    "dapr.io/v1alpha1/resiliencies": ("Resiliency", True, set()),
    "dapr.io/v1alpha1/subscriptions": ("Subscription", True, set()),
    "dapr.io/v2alpha1/subscriptions": ("Subscription", True, set()),
    "apiextensions.k8s.io/v1/customresourcedefinitions": (
        "CustomResourceDefinition",
        False,
        {"status"},
    ),
}
# Kept for importers of the old module: the built-ins plus the Shop's CRD once applied.
RESOURCES = BUILTIN
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete", "deletecollection"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Strategic merge: lists of named items merge by this key (the rest are replaced).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
NOT_VALIDATED = {"Event"}  # the real server validates them too; nobody here writes bad ones


def _rkey(resource: Any) -> str:
    return "/".join(p for p in (resource.group, resource.version, resource.plural) if p)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int


@dataclass
class AuditEntry:
    user: str
    verb: str
    group: str
    resource: str  # with the subresource: shops/status
    namespace: str
    name: str
    allowed: bool
    code: int = 0
    message: str = ""  # the refusal's message
    pod: str = ""  # the pod a bound ServiceAccount token belongs to

    def __str__(self) -> str:
        if self.message:
            return self.message
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}{where} -> {self.code}"


class Refused(Exception):
    def __init__(self, body: dict) -> None:
        super().__init__(body.get("message"))
        self.body = body


def _merge(base: Any, patch: Any, strategic: bool = False, key: str = "") -> Any:
    """RFC 7386 JSON merge patch; strategic: lists of named items merge by their key."""
    if strategic and isinstance(patch, list) and key in MERGE_KEYS and isinstance(base, list):
        merge_key = MERGE_KEYS[key]
        out = copy.deepcopy(base)
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                return copy.deepcopy(patch)
            found = [
                i
                for i, b in enumerate(out)
                if isinstance(b, dict) and b.get(merge_key) == item[merge_key]
            ]
            if item.get("$patch") == "delete":
                out = [b for i, b in enumerate(out) if i not in found]
            elif found:
                out[found[0]] = _merge(out[found[0]], item, strategic)
            else:
                out.append(_merge({}, item, strategic))
        return out
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for k, value in patch.items():
        if strategic and k.startswith("$"):
            continue
        if value is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), value, strategic, k)
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _json_patch(doc: dict, ops: list[dict]) -> dict:
    """RFC 6902 JSON patch (add, remove, replace, test, move, copy)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if op["op"] in ("move", "copy"):
            *src_parents, src_last = _pointer(op["from"])
            source: Any = doc
            for part in src_parents:
                source = source[int(part)] if isinstance(source, list) else source[part]
            idx: Any = int(src_last) if isinstance(source, list) else src_last
            value = copy.deepcopy(source[idx])
            if op["op"] == "move":
                del source[idx]
            doc = _json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
            continue
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
        elif op["op"] == "replace" and not isinstance(target, list) and index not in target:
            raise ValueError(f"replace of a missing key at {op['path']}")
        elif op["op"] in ("add", "replace"):
            target[index] = op["value"]
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc


def _replacement(current: Any, new: Any) -> Any:
    """The merge patch that turns `current` into `new`."""
    if not isinstance(current, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch = {k: None for k in current if k not in new}
    for key, value in new.items():
        if current.get(key) != value:
            patch[key] = _replacement(current.get(key), value) if key in current else value
    return patch


def _rule_text(rule: dict) -> str:
    """A PolicyRule as the escalation refusal prints it."""
    parts = [f"APIGroups:{json.dumps(rule.get('apiGroups') or [])}"]
    parts.append(f"Resources:{json.dumps(rule.get('resources') or [])}")
    if rule.get("resourceNames"):
        parts.append(f"ResourceNames:{json.dumps(rule['resourceNames'])}")
    if rule.get("nonResourceURLs"):
        parts.append(f"NonResourceURLs:{json.dumps(rule['nonResourceURLs'])}")
    parts.append(f"Verbs:{json.dumps(rule.get('verbs') or [])}")
    return "{" + ", ".join(parts) + "}"


def _status(
    code: int, reason: str, message: str, details: dict | None = None
) -> aiohttp.web.Response:
    return aiohttp.web.json_response(schemas.status(code, reason, message, details), status=code)


# ---- selectors -------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_selector_matches(selector: str | None, labels: dict[str, str]) -> bool:
    for term in _split_selector(selector or ""):
        if m := _SET_RE.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_value(obj: dict, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def field_selector_matches(selector: str | None, obj: dict) -> bool:
    for term in _split_selector(selector or ""):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if _field_value(obj, key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if _field_value(obj, key) != value:
                return False
    return True


# ---- certificates ---------------------------------------------------------------------------


def _certificates(
    directory: Path, san_ips: Iterable[str], san_names: Iterable[str]
) -> tuple[Path, Path, Path]:
    """A CA and a serving certificate it signs (EC P-256). Returns (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simulated-cluster-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    ips = {"127.0.0.1", *san_ips}
    names = {"localhost", *san_names}
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(names)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "apiserver.crt",
        directory / "apiserver.key",
    )
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# ---- the server --------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    """See the module's docstring. Switches, for tests that want less than a real server:
    `validation`, `admission` (PodSecurity + quota), `normalise` (quantities)."""

    validation: bool = True
    admission: bool = True
    normalise: bool = True
    service_cidr: str = "10.96.0.0/16"

    _rv: int = attrs.field(default=0, init=False)
    _log: dict[str, list[tuple[int, dict]]] = attrs.field(factory=dict, init=False)
    _write_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    types: dict[str, ResourceType] = attrs.field(factory=dict, init=False)
    admin_token: str = attrs.field(factory=lambda: "admin-" + secrets.token_urlsafe(24), init=False)
    _tokens: dict[str, User] = attrs.field(factory=dict, init=False)
    # Tokens bound to a pod (as the kubelet's projected tokens are): the pod's name, which
    # the audit records (a real server puts it in the user's extra, pod-name).
    _token_pods: dict[str, str] = attrs.field(factory=dict, init=False)
    audit: list[AuditEntry] = attrs.field(factory=list, init=False)
    warnings: list[str] = attrs.field(factory=list, init=False)  # every Warning answered
    _https_url: str | None = attrs.field(default=None, init=False)
    _https_port: int | None = attrs.field(default=None, init=False)
    ca_path: Path | None = attrs.field(default=None, init=False)
    _tmp: tempfile.TemporaryDirectory | None = attrs.field(default=None, init=False)
    _tasks: set[asyncio.Task] = attrs.field(factory=set, init=False)
    _cluster_ips: set[str] = attrs.field(factory=set, init=False)
    _user: User = attrs.field(default=ADMIN, init=False)  # who writes (under the write lock)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._tokens[self.admin_token] = ADMIN
        for key, (kind, namespaced, subresources) in BUILTIN.items():
            self._register(key, ResourceType(kind, namespaced, set(subresources)))

    def _register(self, key: str, rtype: ResourceType) -> None:
        self.types[key] = rtype
        self.resources[key] = kmock.ResourceInfo(
            kind=rtype.kind,
            namespaced=rtype.namespaced,
            verbs=VERBS,
            subresources=rtype.subresources,
        )

    # ---- serving and credentials ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serving(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        san_ips: Iterable[str] = (),
        san_names: Iterable[str] = (),
    ) -> AsyncIterator[str]:
        """Serve HTTPS with a certificate signed by a CA of this server (`ca_path`)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="simapi-")
        ca_path, cert_path, key_path = _certificates(Path(self._tmp.name), san_ips, san_names)
        self.ca_path = ca_path
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        entered = False
        if not self.active:
            await self.__aenter__()
            entered = True
        server = aiohttp.test_utils.RawTestServer(self, host=host, port=port)
        try:
            await server.start_server(ssl=context)
            assert server.port is not None
            shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            self._https_port = server.port
            self._https_url = f"https://{shown}:{server.port}"
            yield self._https_url
        finally:
            self._https_url = None
            await server.close()
            for task in list(self._tasks):
                task.cancel()
            if entered:
                await self.__aexit__(None, None, None)

    async def __aexit__(self, *exc: Any) -> None:
        for task in list(self._tasks):  # namespace terminations still running
            task.cancel()
        await super().__aexit__(*exc)

    @property
    def url(self) -> Any:
        return self._https_url if self._https_url else super().url

    @property
    def port(self) -> int:
        if self._https_port is not None:
            return self._https_port
        return self.servers[0].port

    def issue_token(self, namespace: str, service_account: str, pod: str = "") -> str:
        """A bearer token for system:serviceaccount:<namespace>:<service_account>. It is
        valid while that ServiceAccount exists (checked on each request); `pod`: bound to
        that pod, whose name the audit records for its requests."""
        token = f"sa-{namespace}-{service_account}-" + secrets.token_urlsafe(24)
        self._tokens[token] = User.service_account(namespace, service_account)
        if pod:
            self._token_pods[token] = pod
        return token

    def _bound_pod(self, request: rendering.Request) -> str:
        raw = request._raw_request
        header = raw.headers.get("Authorization", "") if raw is not None else ""
        return self._token_pods.get(header.removeprefix("Bearer ").strip(), "")

    def _authenticate(self, request: rendering.Request) -> User | None:
        raw = request._raw_request
        header = ""
        if raw is not None:
            header = raw.headers.get("Authorization", "")
        else:
            header = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        secure = bool(raw is not None and raw.secure)
        if not header:
            return None if secure else ADMIN  # plain HTTP: the old insecure port
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        user = self._tokens.get(token)
        if user is None:
            return None
        ref = user.service_account_ref
        if ref and self.obj("v1/serviceaccounts", ref[0], ref[1], copied=False) is None:
            return None
        return user

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

    def requests_of(self, user: str) -> list[AuditEntry]:
        return [a for a in self.audit if a.user == user]

    def denied(self, user: str | None = None) -> list[AuditEntry]:
        return [a for a in self.audit if not a.allowed and (user is None or a.user == user)]

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

    def _lister(self, key: str, namespace: str | None) -> list[dict]:
        return self.all(key, namespace, copied=False)

    async def apply(self, obj: dict) -> dict:
        """Create (or replace the spec/data of) an object as `kubectl apply` would, as the
        admin. A refusal raises `Refused` with the Status."""
        resource = self._resource_of(obj)
        namespaced = self.types[_rkey(resource)].namespaced
        ns = obj["metadata"].get("namespace", "default") if namespaced else None
        async with self._write_lock:
            if self.obj(_rkey(resource), ns, obj["metadata"]["name"]) is None:
                code, answer, _ = await self._create(resource, ns, copy.deepcopy(obj))
            else:
                patch = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
                code, answer, _ = await self._update(
                    resource, ns, obj["metadata"]["name"], None, patch
                )
        if code >= 400:
            raise Refused(answer)
        return answer

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
        for key, rtype in self.types.items():
            if rtype.kind == obj["kind"] and key.rsplit("/", 1)[0] == api:
                return kmock.resource(key)
        raise KeyError(f"unknown kind {api} {obj['kind']}")

    @staticmethod
    def _verb(request: rendering.Request) -> str:
        method = request.method.value
        if method == "GET":
            if request.params.get("watch") in ("true", "1"):
                return "watch"
            return "get" if request.name else "list"
        return {
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if request.name else "deletecollection",
        }.get(method, method.lower())

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == request.method.value
                and fault.path.search(request.url.path)
            ):
                fault.times -= 1
                return _status(fault.status, "InternalError", "injected by the test")
        user = self._authenticate(request)
        if user is None:
            return _status(401, "Unauthorized", "Unauthorized")
        verb = self._verb(request)
        if request.resource is None or not request.resource.plural:  # discovery
            method = request.method.value.lower()
            attrs_ = Attributes(user, method, path=request.url.path, resource_request=False)
            if not rbac.authorize(self._lister, attrs_).allowed:
                return aiohttp.web.json_response(rbac.forbidden(attrs_), status=403)
            return await super()._handle(request)
        key = _rkey(request.resource)
        rtype = self.types.get(key)
        namespace = (request.namespace or "") if rtype is None or rtype.namespaced else ""
        attributes = Attributes(
            user,
            verb,
            group=request.resource.group or "",
            resource=request.resource.plural or "",
            subresource=request.subresource or "",
            namespace=namespace,
            name=request.name or "",
        )
        allowed = rbac.authorize(self._lister, attributes).allowed
        entry = AuditEntry(
            user.name,
            verb,
            attributes.group,
            attributes.full_resource,
            namespace,
            attributes.name,
            allowed,
            pod=self._bound_pod(request),
        )
        self.audit.append(entry)
        if not allowed:
            entry.code = 403
            entry.message = rbac.forbidden_message(attributes)
            return aiohttp.web.json_response(rbac.forbidden(attributes), status=403)
        if rtype is None:
            entry.code = 404
            return _status(404, "NotFound", "the server could not find the requested resource")
        response = await self._dispatch(request, rtype, verb, user)
        entry.code = response.status
        return response

    async def _dispatch(
        self, request: rendering.Request, rtype: ResourceType, verb: str, user: User
    ) -> aiohttp.web.StreamResponse:
        assert request.resource is not None
        ns = request.namespace if rtype.namespaced else None
        if verb == "watch":
            return await super()._handle(request)
        if verb == "get":
            found = self.obj(_rkey(request.resource), ns, request.name or "", copied=False)
            if found is None or request.subresource not in (None, "status", "scale"):
                return _status(
                    404,
                    "NotFound",
                    f'{request.resource.plural} "{request.name}" not found',
                    {"name": request.name, "kind": request.resource.plural},
                )
            return aiohttp.web.json_response(found)
        if verb == "list":
            return aiohttp.web.json_response(self._list(request, rtype))
        async with self._write_lock:
            self._user = user
            try:
                return await self._write(request, rtype, verb, ns)
            finally:
                self._user = ADMIN

    async def _write(
        self, request: rendering.Request, rtype: ResourceType, verb: str, ns: str | None
    ) -> aiohttp.web.StreamResponse:
        assert request.resource is not None
        if verb == "create" and request.name and request.subresource == "token":
            code, body, warnings = await self._token_request(
                ns or "", request.name, request.data or {}
            )
        elif verb == "create" and request.name is None:
            code, body, warnings = await self._create(request.resource, ns, request.data or {})
        elif verb == "update" and request.name:
            code, body, warnings = await self._replace(
                request.resource, ns, request.name, request.subresource, request.data or {}
            )
        elif verb == "patch" and request.name:
            ctype = request.headers.get("Content-Type", "") or (
                request._raw_request.headers.get("Content-Type", "")
                if request._raw_request is not None
                else ""
            )
            data = request.data or {}
            strategic = "strategic" in ctype
            if "json-patch" in ctype:
                current = self.obj(_rkey(request.resource), ns, request.name)
                if current is None:
                    return _status(
                        404, "NotFound", f'{request.resource.plural} "{request.name}" not found'
                    )
                try:
                    patched = _json_patch(current, data)
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    return _status(422, "Invalid", f"the JSON patch failed: {exc}")
                code, body, warnings = await self._replace(
                    request.resource, ns, request.name, request.subresource, patched, patch=True
                )
            elif "merge-patch" not in ctype and not strategic:
                return _status(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    f"application/strategic-merge-patch+json ({ctype})",
                )
            else:
                code, body, warnings = await self._update(
                    request.resource,
                    ns,
                    request.name,
                    request.subresource,
                    data,
                    strategic=strategic,
                )
        elif verb == "delete":
            code, body, warnings = await self._delete(request.resource, ns, request.name or "")
        elif verb == "deletecollection":
            code, body, warnings = await self._delete_collection(request, rtype)
        else:
            return _status(405, "MethodNotAllowed", f"{request.method.value} {request.url.path}")
        headers = {}
        if warnings:
            self.warnings.extend(warnings)
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warnings)
        return aiohttp.web.json_response(body, status=code, headers=headers)

    def _list(self, request: rendering.Request, rtype: ResourceType) -> dict:
        assert request.resource is not None
        key = _rkey(request.resource)
        ns = request.namespace if rtype.namespaced else None
        items = [
            obj
            for obj in self.all(key, ns, copied=False)
            if label_selector_matches(
                request.params.get("labelSelector"), obj["metadata"].get("labels") or {}
            )
            and field_selector_matches(request.params.get("fieldSelector"), obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return {
            "apiVersion": key.rsplit("/", 1)[0],
            "kind": f"{rtype.kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def _publish(self, resource: Any, kind: str, obj: dict) -> None:
        event = {"type": kind, "object": copy.deepcopy(obj)}
        rv = int(obj["metadata"]["resourceVersion"])
        self._log.setdefault(_rkey(resource), []).append((rv, event))
        await self._buses[resource].put(event)

    # ---- the write pipeline: mutate, validate, admit ----------------------------------------

    def _group(self, key: str) -> str:
        parts = key.split("/")
        return parts[0] if len(parts) == 3 else ""

    def _mutate(self, key: str, rtype: ResourceType, obj: dict, creating: bool) -> None:
        """Defaulting, pruning and canonical quantities (mutating, before validation)."""
        if rtype.schema is not None:
            rtype.schema.default_and_prune(obj)
            return
        if self.normalise:
            causes = schemas.normalise_quantities(obj)
            if causes:
                raise Refused(schemas.status(400, "BadRequest", str(causes[0])))
        kind = rtype.kind
        spec = obj.get("spec")
        if kind == "Pod" and isinstance(spec, dict):
            spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            if creating:
                obj["status"] = {"phase": "Pending"}
        if kind == "Deployment" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy.setdefault("type", "RollingUpdate")
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
        if kind == "Service" and isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate_cluster_ip(obj)
                spec["clusterIPs"] = [spec["clusterIP"]]
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        if kind == "Namespace" and creating:
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj[
                "metadata"
            ]["name"]
        if kind == "Secret" and isinstance(obj.get("stringData"), dict):
            import base64

            data = obj.setdefault("data", {}) or {}
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

    def _allocate_cluster_ip(self, obj: dict) -> str:
        network = ipaddress.ip_network(self.service_cidr)
        meta = obj["metadata"]
        if meta.get("namespace") == "default" and meta.get("name") == "kubernetes":
            address = str(network.network_address + 1)
        else:
            for host in network.hosts():
                address = str(host)
                if host != network.network_address + 1 and address not in self._cluster_ips:
                    break
        self._cluster_ips.add(address)
        return address

    def _validate(self, key: str, rtype: ResourceType, obj: dict, old: dict | None) -> list[str]:
        """422 (Refused) on an invalid object; the warnings of unknown fields otherwise."""
        if not self.validation or rtype.kind in NOT_VALIDATED:
            return []
        group = self._group(key)
        name = obj["metadata"].get("name", "")
        causes = schemas.validate_metadata(obj)
        if old is not None:
            causes += schemas.immutable(rtype.kind, old, obj)
        warnings: list[str] = []
        if rtype.schema is not None:
            causes += rtype.schema.validate(obj, old)
        elif group not in ("dapr.io",) and rtype.kind != "CustomResourceDefinition":
            found, warnings = schemas.validate_builtin(obj)
            causes += found
        if causes:
            raise Refused(schemas.invalid(rtype.kind, group, name, causes))
        return warnings

    def _escalation(self, key: str, rtype: ResourceType, obj: dict) -> None:
        """RBAC's escalation prevention: a (Cluster)Role may only be written by a user who
        holds every permission in it (or has `escalate` on roles); a binding only by one
        who holds every permission of the role it binds (or has `bind` on it)."""
        if rbac.MASTERS in self._user.groups or rtype.kind not in (
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
        ):
            return
        ns = obj["metadata"].get("namespace") or ""
        plural = key.rsplit("/", 1)[1]
        name = obj["metadata"].get("name", "")
        if rtype.kind in ("Role", "ClusterRole"):
            rules = obj.get("rules") or []
            exempt = Attributes(
                self._user, "escalate", "rbac.authorization.k8s.io", plural, namespace=ns, name=name
            )
        else:
            ref = obj.get("roleRef") or {}
            role = self.obj(
                "rbac.authorization.k8s.io/v1/"
                + ("clusterroles" if ref.get("kind") == "ClusterRole" else "roles"),
                None if ref.get("kind") == "ClusterRole" else ns,
                ref.get("name", ""),
                copied=False,
            )
            rules = (role or {}).get("rules") or []
            exempt = Attributes(
                self._user,
                "bind",
                "rbac.authorization.k8s.io",
                "clusterroles" if ref.get("kind") == "ClusterRole" else "roles",
                namespace=ns,
                name=ref.get("name", ""),
            )
        if rbac.authorize(self._lister, exempt).allowed:
            return
        missing = []
        for rule in rules:
            if rule.get("nonResourceURLs"):
                missing.append(rule)
                continue
            names = rule.get("resourceNames") or [""]
            held = all(
                rbac.authorize(
                    self._lister,
                    Attributes(
                        self._user,
                        verb,
                        group,
                        resource.partition("/")[0],
                        resource.partition("/")[2],
                        ns,
                        rname,
                    ),
                ).allowed
                and "*" not in (verb, group, resource)
                for verb in rule.get("verbs") or []
                for group in rule.get("apiGroups") or []
                for resource in rule.get("resources") or []
                for rname in names
            )
            if not held:
                missing.append(rule)
        if missing:
            shown = "\n".join(_rule_text(r) for r in missing)
            groups = ", ".join(f'"{g}"' for g in self._user.groups)
            raise Refused(
                admission.forbidden(
                    plural,
                    "rbac.authorization.k8s.io",
                    name,
                    f'user "{self._user.name}" (groups=[{groups}]) is attempting to grant '
                    f"RBAC permissions not currently held:\n{shown}",
                )
            )

    def _owner_references(self, obj: dict, old: dict | None) -> None:
        """OwnerReferencesPermissionEnforcement: setting blockOwnerDeletion on a reference
        needs `update` on the owner's `finalizers` subresource."""
        if rbac.MASTERS in self._user.groups:
            return
        before = {
            o.get("uid")
            for o in ((old or {}).get("metadata") or {}).get("ownerReferences") or []
            if o.get("blockOwnerDeletion")
        }
        for ref in obj["metadata"].get("ownerReferences") or []:
            if not ref.get("blockOwnerDeletion") or ref.get("uid") in before:
                continue
            group = ref.get("apiVersion", "").rpartition("/")[0]
            found = [
                (k, t)
                for k, t in self.types.items()
                if t.kind == ref.get("kind") and k.rsplit("/", 1)[0] == ref.get("apiVersion")
            ]
            plural = found[0][0].rsplit("/", 1)[1] if found else ref.get("kind", "").lower() + "s"
            namespaced = found[0][1].namespaced if found else True
            attributes = Attributes(
                self._user,
                "update",
                group,
                plural,
                "finalizers",
                obj["metadata"].get("namespace", "") if namespaced else "",
                ref.get("name", ""),
            )
            allowed = rbac.authorize(self._lister, attributes).allowed
            self.audit.append(
                AuditEntry(
                    self._user.name,
                    "update",
                    group,
                    f"{plural}/finalizers",
                    attributes.namespace,
                    attributes.name,
                    allowed,
                    0 if allowed else 403,
                    "" if allowed else rbac.forbidden_message(attributes),
                )
            )
            if not allowed:
                kind = obj.get("kind", "")
                raise Refused(
                    admission.forbidden(
                        self._plural_of(obj),
                        self._group(obj.get("apiVersion", "") + "/x"),
                        obj["metadata"].get("name", ""),
                        "cannot set blockOwnerDeletion if an ownerReference refers to a resource "
                        f"you can't set finalizers on: {rbac.forbidden_message(attributes)}, "
                        f"<{ref.get('kind')}/{kind}>",
                    )
                )

    def _plural_of(self, obj: dict) -> str:
        for key, rtype in self.types.items():
            if rtype.kind == obj.get("kind") and key.rsplit("/", 1)[0] == obj.get("apiVersion"):
                return key.rsplit("/", 1)[1]
        return obj.get("kind", "").lower() + "s"

    def _admit(self, key: str, rtype: ResourceType, obj: dict, creating: bool) -> list[str]:
        ns = obj["metadata"].get("namespace")
        name = obj["metadata"].get("name", "")
        group = self._group(key)
        plural = key.rsplit("/", 1)[1]
        namespace_obj = self.obj("v1/namespaces", None, ns, copied=False) if ns else None
        if creating and ns:
            refusal = admission.namespace_lifecycle(namespace_obj, ns, plural, group, name)
            if refusal:
                raise Refused(refusal)
        if rtype.kind == "Pod" and creating:
            account = (obj.get("spec") or {}).get("serviceAccountName") or "default"
            if self.obj("v1/serviceaccounts", ns, account, copied=False) is None:
                raise Refused(
                    admission.forbidden(
                        "pods",
                        "",
                        name,
                        f"error looking up service account {ns}/{account}: serviceaccount "
                        f'"{account}" not found',
                    )
                )
        if not self.admission:
            return []
        if rtype.kind == "Pod" and creating:
            admission.limit_ranger(obj, self.all("v1/limitranges", ns, copied=False))
            if self.normalise:
                schemas.normalise_quantities(obj)
        warnings: list[str] = []
        if schemas.pod_spec_paths(obj) and (creating or rtype.kind != "Pod"):
            result = admission.pod_security(obj, namespace_obj)
            if result.refusal:
                raise Refused(result.refusal)
            warnings += result.warnings
        if rtype.kind == "Pod" and creating:
            refusal = admission.resource_quota(
                obj,
                self.all("v1/resourcequotas", ns, copied=False),
                self.all("v1/pods", ns, copied=False),
            )
            if refusal:
                raise Refused(refusal)
        return warnings

    async def _create(self, resource: Any, ns: str | None, obj: dict) -> tuple[int, Any, list[str]]:
        key_name = _rkey(resource)
        rtype = self.types[key_name]
        kind, namespaced, subresources = rtype.kind, rtype.namespaced, rtype.subresources
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        group = self._group(key_name)
        if not meta.get("name"):
            cause = schemas.Cause(
                "FieldValueRequired", "metadata.name", "name or generateName is required"
            )
            return 422, schemas.invalid(kind, group, "", [cause]), []
        if namespaced:
            ns = ns or meta.get("namespace") or "default"
            if meta.get("namespace") not in (None, ns):
                return (
                    400,
                    schemas.status(
                        400,
                        "BadRequest",
                        "the namespace of the provided object does not match the namespace "
                        "sent on the request",
                    ),
                    [],
                )
            if self.obj("v1/namespaces", None, ns) is None:
                return (
                    404,
                    schemas.status(
                        404,
                        "NotFound",
                        f'namespaces "{ns}" not found',
                        {"name": ns, "kind": "namespaces"},
                    ),
                    [],
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        plural = key_name.rsplit("/", 1)[1]
        if self.obj(key_name, ns, meta["name"]) is not None:
            return (
                409,
                schemas.status(
                    409,
                    "AlreadyExists",
                    f'{plural}{"." + group if group else ""} "{meta["name"]}" already exists',
                    {"name": meta["name"], "group": group, "kind": plural},
                ),
                [],
            )
        for f in ("deletionTimestamp", "resourceVersion", "uid", "generation", "creationTimestamp"):
            meta.pop(f, None)
        if "status" in subresources:
            obj.pop("status", None)
        obj["apiVersion"] = key_name.rsplit("/", 1)[0]
        obj["kind"] = kind
        try:
            self._mutate(key_name, rtype, obj, creating=True)
            warnings = self._validate(key_name, rtype, obj, None)
            warnings += self._admit(key_name, rtype, obj, creating=True)
            self._owner_references(obj, None)
            self._escalation(key_name, rtype, obj)
        except Refused as exc:
            return exc.body["code"], exc.body, []
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()
        if kind == "CustomResourceDefinition":
            self._define(obj)
        key = (resource, ns, meta["name"])
        if key in self.objects:
            self.objects[key].create(obj)
        else:
            self.objects[key] = obj
        await self._publish(resource, "ADDED", obj)
        if kind == "Namespace":
            await self._create(
                kmock.resource("v1/serviceaccounts"),
                meta["name"],
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            )
        return 201, obj, warnings

    def _define(self, crd: dict) -> None:
        """A CRD: serve its versions (with their schemas) from now on."""
        spec = crd["spec"]
        plural, group = spec["names"]["plural"], spec["group"]
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            subresources = set((version.get("subresources") or {}).keys())
            self._register(
                f"{group}/{version['name']}/{plural}",
                ResourceType(
                    spec["names"]["kind"],
                    spec.get("scope") == "Namespaced",
                    subresources,
                    schemas.CrdSchema(schema),
                    crd["metadata"]["name"],
                ),
            )
        crd["status"] = {
            "acceptedNames": spec["names"],
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "lastTransitionTime": _now(),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "lastTransitionTime": _now(),
                },
            ],
        }

    async def _token_request(self, ns: str, name: str, body: dict) -> tuple[int, Any, list[str]]:
        if self.obj("v1/serviceaccounts", ns, name, copied=False) is None:
            return (
                404,
                schemas.status(
                    404,
                    "NotFound",
                    f'serviceaccounts "{name}" not found',
                    {"name": name, "kind": "serviceaccounts"},
                ),
                [],
            )
        seconds = int((body.get("spec") or {}).get("expirationSeconds") or 3600)
        expires = (datetime.now(UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {
                "audiences": (body.get("spec") or {}).get("audiences")
                or ["https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": seconds,
                "boundObjectRef": (body.get("spec") or {}).get("boundObjectRef"),
            },
            "status": {"token": self.issue_token(ns, name), "expirationTimestamp": expires},
        }
        return 201, answer, []

    async def _replace(
        self,
        resource: Any,
        ns: str | None,
        name: str,
        sub: str | None,
        new: dict,
        patch: bool = False,
    ) -> tuple[int, Any, list[str]]:
        """PUT (and the result of a JSON patch): the whole object as sent; what the server
        owns (uid, creationTimestamp, generation, deletionTimestamp, and status or the rest,
        depending on the subresource) is kept."""
        current = self.obj(_rkey(resource), ns, name)
        rtype = self.types[_rkey(resource)]
        plural = _rkey(resource).rsplit("/", 1)[1]
        if current is None:
            return 404, schemas.status(404, "NotFound", f'{plural} "{name}" not found'), []
        new = copy.deepcopy(new)
        meta = new.setdefault("metadata", {})
        if not patch and meta.get("name") not in (None, name):
            return (
                400,
                schemas.status(
                    400, "BadRequest", "the name of the object does not match the name on the URL"
                ),
                [],
            )
        wanted_rv = meta.get("resourceVersion")
        for f in (
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "namespace",
            "name",
            "resourceVersion",
        ):
            if f in current["metadata"]:
                meta[f] = current["metadata"][f]
            else:
                meta.pop(f, None)
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        if sub == "status":
            new = {**current, "status": new.get("status")}
        elif "status" in rtype.subresources:
            new.pop("status", None)
            if "status" in current:
                new["status"] = current["status"]
        merge = _replacement(current, new)
        if wanted_rv is not None:
            merge.setdefault("metadata", {})["resourceVersion"] = wanted_rv
        return await self._update(resource, ns, name, sub, merge, rtype=rtype)

    async def _update(
        self,
        resource: Any,
        ns: str | None,
        name: str,
        sub: str | None,
        patch: dict,
        strategic: bool = False,
        rtype: ResourceType | None = None,
    ) -> tuple[int, Any, list[str]]:
        key_name = _rkey(resource)
        rtype = rtype or self.types[key_name]
        kind, subresources = rtype.kind, rtype.subresources
        plural = key_name.rsplit("/", 1)[1]
        group = self._group(key_name)
        current = self.obj(key_name, ns, name)
        if current is None:
            return (
                404,
                schemas.status(
                    404,
                    "NotFound",
                    f'{plural}{"." + group if group else ""} "{name}" not found',
                    {"name": name, "group": group, "kind": plural},
                ),
                [],
            )
        if sub not in (None, *subresources) or sub in ("token", "log"):
            return (
                404,
                schemas.status(
                    404, "NotFound", f"the server could not find the requested resource ({sub})"
                ),
                [],
            )
        patch = copy.deepcopy(patch)
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            return (
                409,
                schemas.status(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {plural}{'.' + group if group else ''} "
                    f'"{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": group, "kind": plural},
                ),
                [],
            )
        if sub == "status":
            patch = {"status": patch.get("status")} if "status" in patch else {}
        elif sub == "scale":
            replicas = (patch.get("spec") or {}).get("replicas")
            patch = {"spec": {"replicas": replicas}} if replicas is not None else {}
        elif "status" in subresources:
            patch.pop("status", None)
        meta_patch = patch.get("metadata") or {}
        for f in (
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
            "namespace",
            "name",
            "deletionTimestamp",
        ):
            meta_patch.pop(f, None)
        if kind == "Namespace" and sub is None:
            patch.pop("spec", None)
        new = _merge(current, patch, strategic)
        try:
            self._mutate(key_name, rtype, new, creating=False)
            if new == current:
                return 200, current, []
            warnings = self._validate(key_name, rtype, new, current)
            warnings += self._admit(key_name, rtype, new, creating=False)
            self._owner_references(new, current)
            self._escalation(key_name, rtype, new)
        except Refused as exc:
            return exc.body["code"], exc.body, []
        spec_of = {k: v for k, v in current.items() if k not in ("metadata", "status")}
        spec_new = {k: v for k, v in new.items() if k not in ("metadata", "status")}
        if spec_of != spec_new:
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        if kind == "CustomResourceDefinition" and sub is None:
            self._define(new)
        self.objects[(resource, ns, name)].create(new)
        await self._publish(resource, "MODIFIED", new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            await self._erase(resource, ns, name)
        return 200, new, warnings

    async def _delete(self, resource: Any, ns: str | None, name: str) -> tuple[int, Any, list[str]]:
        key_name = _rkey(resource)
        plural = key_name.rsplit("/", 1)[1]
        group = self._group(key_name)
        current = self.obj(key_name, ns, name)
        if current is None:
            return (
                404,
                schemas.status(
                    404,
                    "NotFound",
                    f'{plural}{"." + group if group else ""} "{name}" not found',
                    {"name": name, "group": group, "kind": plural},
                ),
                [],
            )
        if key_name == "v1/namespaces":
            if not current["metadata"].get("deletionTimestamp"):
                current["metadata"]["deletionTimestamp"] = _now()
                current["status"] = {"phase": "Terminating"}
                current["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[(resource, ns, name)].create(current)
                await self._publish(resource, "MODIFIED", current)
                task = asyncio.create_task(self._terminate_namespace(name))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return 200, current, []
        if current["metadata"].get("finalizers"):
            if not current["metadata"].get("deletionTimestamp"):
                current["metadata"]["deletionTimestamp"] = _now()
                current["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[(resource, ns, name)].create(current)
                await self._publish(resource, "MODIFIED", current)
            return 200, current, []
        await self._erase(resource, ns, name)
        return 200, current, []

    async def _delete_collection(
        self, request: rendering.Request, rtype: ResourceType
    ) -> tuple[int, Any, list[str]]:
        assert request.resource is not None
        listed = self._list(request, rtype)
        for item in listed["items"]:
            await self._delete(
                request.resource, item["metadata"].get("namespace"), item["metadata"]["name"]
            )
        return 200, {**listed, "items": listed["items"]}, []

    async def _terminate_namespace(self, name: str) -> None:
        """The namespace controller: delete everything in it, then the namespace."""
        while True:
            async with self._write_lock:
                left = [
                    (res, ns, obj_name)
                    for (res, ns, obj_name), obj in list(self.objects.items())
                    if ns == name and not obj.deleted
                ]
                for res, ns, obj_name in left:
                    current = self.obj(_rkey(res), ns, obj_name, copied=False)
                    if current is not None and not current["metadata"].get("deletionTimestamp"):
                        await self._delete(res, ns, obj_name)
                if not left:
                    await self._erase(kmock.resource("v1/namespaces"), None, name)
                    return
            await asyncio.sleep(0.05)

    async def _erase(self, resource: Any, ns: str | None, name: str) -> None:
        """Remove an object, then (as the garbage collector would) what it owned."""
        obj = self.obj(_rkey(resource), ns, name)
        if obj is None:
            return
        self.objects[(resource, ns, name)].delete()
        obj["metadata"]["resourceVersion"] = self._next_rv()
        await self._publish(resource, "DELETED", obj)
        if _rkey(resource) == "apiextensions.k8s.io/v1/customresourcedefinitions":
            for key, rtype in list(self.types.items()):
                if rtype.crd == name:
                    for item in self.all(key):
                        await self._erase(
                            kmock.resource(key),
                            item["metadata"].get("namespace"),
                            item["metadata"]["name"],
                        )
                    del self.types[key]
        if _rkey(resource) == "v1/services":
            self._cluster_ips.discard((obj.get("spec") or {}).get("clusterIP"))
        uid = obj["metadata"]["uid"]
        for (res, child_ns, child_name), child in list(self.objects.items()):
            if child.deleted:
                continue
            raw = child.raw
            if any(o.get("uid") == uid for o in raw["metadata"].get("ownerReferences", [])):
                await self._delete(res, child_ns, child_name)

    # ---- watches with resource versions -----------------------------------------------------

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        yield b""
        assert request.resource is not None
        since = int(request.params.get("resourceVersion") or 0)
        bus = self._buses[request.resource]
        mark = await bus.mark()
        try:
            if since == 0:
                for obj in self.all(_rkey(request.resource), request.namespace):
                    if self._matches(request, {"object": obj}):
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
        obj = event["object"]
        meta = obj["metadata"]
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        if request.name is not None and meta.get("name") != request.name:
            return False
        return label_selector_matches(
            request.params.get("labelSelector"), meta.get("labels") or {}
        ) and field_selector_matches(request.params.get("fieldSelector"), obj)
