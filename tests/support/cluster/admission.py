"""Admission as kube-apiserver's built-in plugins do it: NamespaceLifecycle, ResourceQuota
(pods) and PodSecurity (baseline and restricted).

Each check takes the object being written and what the store holds, and returns a
refusal (an `Admission` with its Status) or warnings. The API server runs them after
defaulting and validation, in the order the real server does: lifecycle, then Pod
Security, then quota (quota last, so a refused pod counts nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from tests.support.cluster.schemas import (
    Quantity,
    QuantityError,
    all_containers,
    pod_spec_paths,
    status,
)


@dataclass
class Admission:
    refusal: dict | None = None  # a Status to answer with
    warnings: list[str] = field(default_factory=list)


def forbidden(resource: str, group: str, name: str, why: str, cause: str | None = None) -> dict:
    qualified = f"{resource}.{group}" if group else resource
    details: dict = {"name": name, "group": group, "kind": resource}
    details = {k: v for k, v in details.items() if v}
    if cause:
        details["causes"] = [{"reason": cause, "message": why, "field": "metadata.namespace"}]
    return status(403, "Forbidden", f'{qualified} "{name}" is forbidden: {why}', details)


# ---- NamespaceLifecycle -----------------------------------------------------------------------


def namespace_lifecycle(
    namespace_obj: dict | None, namespace: str, resource: str, group: str, name: str
) -> dict | None:
    """A create in a terminating namespace is refused (403), as the real plugin does."""
    if namespace_obj is None:
        return None  # the server answers 404 for a missing namespace
    terminating = namespace_obj["metadata"].get("deletionTimestamp") or (
        (namespace_obj.get("status") or {}).get("phase") == "Terminating"
    )
    if terminating:
        return forbidden(
            resource,
            group,
            name,
            f"unable to create new content in namespace {namespace} because it is being terminated",
            "NamespaceTerminating",
        )
    return None


# ---- ResourceQuota (pods) ---------------------------------------------------------------------

# The resources whose quota makes every container name them (quota's "BACKWARD
# COMPATIBILITY REQUIREMENT").
_MUST_SPECIFY = {
    "requests.cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "cpu": ("requests", "cpu"),
    "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}


def _q(value: object) -> Fraction:
    try:
        return Quantity.parse(value).value
    except QuantityError:
        return Fraction(0)


def pod_usage(pod: dict) -> dict[str, Fraction]:
    """What a pod counts against a quota: requests.*, limits.*, cpu/memory, pods.

    As the quota evaluator computes it: the sum over containers (and restartable init
    containers, i.e. sidecars) or the largest init container, whichever is more, plus
    the pod's overhead."""
    spec = pod.get("spec") or {}
    usage: dict[str, Fraction] = {"pods": Fraction(1), "count/pods": Fraction(1)}
    for side in ("requests", "limits"):
        for resource in ("cpu", "memory", "ephemeral-storage"):
            running = Fraction(0)
            for container in spec.get("containers") or []:
                running += _q(((container.get("resources") or {}).get(side) or {}).get(resource, 0))
            init_peak = Fraction(0)
            sidecars = Fraction(0)
            for container in spec.get("initContainers") or []:
                amount = _q(((container.get("resources") or {}).get(side) or {}).get(resource, 0))
                if container.get("restartPolicy") == "Always":
                    sidecars += amount
                else:
                    init_peak = max(init_peak, sidecars + amount)
            total = max(running + sidecars, init_peak)
            total += _q((spec.get("overhead") or {}).get(resource, 0))
            usage[f"{side}.{resource}"] = total
            if side == "requests":
                usage[resource] = total
    return usage


def _terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pretty(values: dict[str, Fraction]) -> str:
    """`requests.memory=64Mi,pods=1`, sorted, as the plugin prints quantities."""
    out = []
    for key in sorted(values):
        fmt = "binary" if ("memory" in key or "storage" in key) else "decimal"
        out.append(f"{key}={Quantity(values[key], fmt).canonical()}")
    return ",".join(out)


def resource_quota(pod: dict, quotas: Iterable[dict], pods: Iterable[dict]) -> dict | None:
    """Refuse a pod that a quota of its namespace cannot hold (403), as the real plugin."""
    name = pod["metadata"].get("name", "")
    existing = [p for p in pods if not _terminal(p)]
    wanted = pod_usage(pod)
    spec = pod.get("spec") or {}
    for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
        hard: dict[str, str] = (quota.get("spec") or {}).get("hard") or {}
        qname = quota["metadata"]["name"]
        # Every container must name what a cpu/memory quota tracks.
        missing: dict[str, set[str]] = {}
        for key in hard:
            if key not in _MUST_SPECIFY:
                continue
            side, resource = _MUST_SPECIFY[key]
            for _, container in all_containers(spec):
                if resource not in ((container.get("resources") or {}).get(side) or {}):
                    missing.setdefault(key, set()).add(container.get("name", ""))
        if missing:
            listed = "; ".join(
                f"{k} for: {','.join(sorted(v))}" for k, v in sorted(missing.items())
            )
            return forbidden("pods", "", name, f"failed quota: {qname}: must specify {listed}")
        used: dict[str, Fraction] = {}
        for other in existing:
            for key, amount in pod_usage(other).items():
                used[key] = used.get(key, Fraction(0)) + amount
        over = [
            key
            for key in hard
            if key in wanted and used.get(key, Fraction(0)) + wanted[key] > _q(hard[key])
        ]
        if over:
            requested = {k: wanted[k] for k in over}
            used_now = {k: used.get(k, Fraction(0)) for k in over}
            limited = {k: _q(hard[k]) for k in over}
            return forbidden(
                "pods",
                "",
                name,
                f"exceeded quota: {qname}, requested: {_pretty(requested)}, "
                f"used: {_pretty(used_now)}, limited: {_pretty(limited)}",
            )
    return None


# ---- PodSecurity ----------------------------------------------------------------------------

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def _containers_phrase(names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"container {quoted}" if len(names) == 1 else f"containers {quoted}"


def _pod_or_containers(names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"pod or container {quoted}" if len(names) == 1 else f"pod or containers {quoted}"


def pod_security_violations(pod_spec: dict, level: str) -> list[str]:
    """The Pod Security Standards checks ("latest") of `level`, as the PodSecurity plugin
    words them."""
    if level not in ("baseline", "restricted"):
        return []
    out: list[str] = []
    containers = [c for _, c in all_containers(pod_spec)]
    psc = pod_spec.get("securityContext") or {}

    def csc(c: dict) -> dict:
        return c.get("securityContext") or {}

    # -- baseline
    host = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if pod_spec.get(k)]
    if host:
        out.append(f"host namespaces ({', '.join(host)})")
    privileged = [c["name"] for c in containers if csc(c).get("privileged")]
    if privileged:
        out.append(
            f"privileged ({_containers_phrase(privileged)} must not set "
            "securityContext.privileged=true)"
        )
    added: dict[str, list[str]] = {}
    for c in containers:
        for cap in (csc(c).get("capabilities") or {}).get("add") or []:
            if cap not in BASELINE_CAPABILITIES:
                added.setdefault(c["name"], []).append(cap)
    if added:
        names = list(added)
        caps = sorted({cap for caps in added.values() for cap in caps})
        out.append(
            f"non-default capabilities ({_containers_phrase(names)} must not include "
            f"{', '.join(repr(c).replace(chr(39), chr(34)) for c in caps)} in "
            "securityContext.capabilities.add)"
        )
    host_path = [v["name"] for v in pod_spec.get("volumes") or [] if "hostPath" in v]
    if host_path:
        quoted = ", ".join(f'"{n}"' for n in host_path)
        out.append(f"hostPath volumes (volume{'s' if len(host_path) > 1 else ''} {quoted})")
    ports = [
        (c["name"], p["hostPort"])
        for c in containers
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]
    if ports:
        names = list(dict.fromkeys(n for n, _ in ports))
        out.append(
            f"hostPort ({_containers_phrase(names)} uses hostPort"
            f"{'s' if len(ports) > 1 else ''} {', '.join(str(p) for _, p in ports)})"
        )
    unconfined = (psc.get("seccompProfile") or {}).get("type") == "Unconfined" or any(
        (csc(c).get("seccompProfile") or {}).get("type") == "Unconfined" for c in containers
    )
    if unconfined:
        out.append(
            "seccompProfile (pod or container must not set "
            'securityContext.seccompProfile.type to "Unconfined")'
        )
    sysctls = [s["name"] for s in psc.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if sysctls:
        out.append(f"forbidden sysctls ({', '.join(sysctls)})")
    proc = [c["name"] for c in containers if csc(c).get("procMount") not in (None, "Default")]
    if proc:
        out.append(f"procMount ({_containers_phrase(proc)} must not set securityContext.procMount)")
    if level == "baseline":
        return out

    # -- restricted
    bad_volumes = [
        (v["name"], next((k for k in v if k != "name"), "?"))
        for v in pod_spec.get("volumes") or []
        if not any(k in RESTRICTED_VOLUMES for k in v if k != "name") and "hostPath" not in v
    ]
    if bad_volumes:
        many = len(bad_volumes) > 1
        names = ", ".join(f'"{n}"' for n, _ in bad_volumes)
        kinds = ", ".join(sorted({k for _, k in bad_volumes}))
        out.append(
            f"restricted volume types (volume{'s' if many else ''} {names} "
            f'use{"" if many else "s"} restricted volume type{"s" if many else ""} "{kinds}")'
        )
    escalation = [
        c["name"] for c in containers if csc(c).get("allowPrivilegeEscalation") is not False
    ]
    if escalation:
        out.append(
            f"allowPrivilegeEscalation != false ({_containers_phrase(escalation)} must set "
            "securityContext.allowPrivilegeEscalation=false)"
        )
    caps = []
    for c in containers:
        capabilities = csc(c).get("capabilities") or {}
        drops = capabilities.get("drop") or []
        adds = [a for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if "ALL" not in drops or adds:
            caps.append(c["name"])
    if caps:
        out.append(
            f"unrestricted capabilities ({_containers_phrase(caps)} must set "
            'securityContext.capabilities.drop=["ALL"])'
        )
    pod_non_root = psc.get("runAsNonRoot")
    non_root = [
        c["name"]
        for c in containers
        if csc(c).get("runAsNonRoot") is False
        or (csc(c).get("runAsNonRoot") is None and pod_non_root is not True)
    ]
    if pod_non_root is False or non_root:
        who = _pod_or_containers(non_root) if non_root else "pod"
        out.append(f"runAsNonRoot != true ({who} must set securityContext.runAsNonRoot=true)")
    root_users = [c["name"] for c in containers if csc(c).get("runAsUser") == 0]
    if psc.get("runAsUser") == 0 or root_users:
        who = _pod_or_containers(root_users) if root_users else "pod"
        out.append(f"runAsUser=0 ({who} must not set runAsUser=0)")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    seccomp = [
        c["name"]
        for c in containers
        if (csc(c).get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost")
        and not ("seccompProfile" not in csc(c) and pod_seccomp in ("RuntimeDefault", "Localhost"))
    ]
    if seccomp and not unconfined:
        out.append(
            f"seccompProfile ({_pod_or_containers(seccomp)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
        )
    return out


def namespace_levels(namespace_obj: dict | None) -> dict[str, str]:
    """{"enforce": "restricted", "warn": ..., "audit": ...} from the namespace's labels."""
    labels = ((namespace_obj or {}).get("metadata") or {}).get("labels") or {}
    out = {}
    for mode in ("enforce", "warn", "audit"):
        level = labels.get(f"pod-security.kubernetes.io/{mode}")
        if level in LEVELS:
            out[mode] = level
    return out


def pod_security(obj: dict, namespace_obj: dict | None) -> Admission:
    """Pods: refused under `enforce`, warned under `warn`. Workloads (Deployments, Jobs,
    ...): warnings only, for `enforce` and `warn` levels, as the real plugin does."""
    levels = namespace_levels(namespace_obj)
    if not levels:
        return Admission()
    kind = obj.get("kind")
    name = obj["metadata"].get("name", "")
    result = Admission()
    for _, spec in pod_spec_paths(obj):
        if kind == "Pod" and "enforce" in levels:
            found = pod_security_violations(spec, levels["enforce"])
            if found:
                result.refusal = forbidden(
                    "pods",
                    "",
                    name,
                    f'violates PodSecurity "{levels["enforce"]}:latest": {", ".join(found)}',
                )
                return result
        for mode in ("warn", "enforce") if kind != "Pod" else ("warn",):
            if mode in levels:
                found = pod_security_violations(spec, levels[mode])
                if found:
                    text = f'would violate PodSecurity "{levels[mode]}:latest": {", ".join(found)}'
                    if text not in result.warnings:
                        result.warnings.append(text)
    return result


# ---- LimitRanger (mutating) -------------------------------------------------------------------


def limit_ranger(pod: dict, limit_ranges: Iterable[dict]) -> None:
    """Fill in a pod's containers as the API server does before quota sees them: a request
    left out defaults to the container's limit (API defaulting), then the namespace's
    LimitRange `default` (limits) and `defaultRequest` (requests) for what is still left
    out (the LimitRanger plugin)."""
    spec = pod.get("spec") or {}
    for _, container in all_containers(spec):
        resources = container.setdefault("resources", {})
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        for key, value in limits.items():
            requests.setdefault(key, value)
        for limit_range in limit_ranges:
            for item in (limit_range.get("spec") or {}).get("limits") or []:
                if item.get("type") != "Container":
                    continue
                for key, value in (item.get("default") or {}).items():
                    limits.setdefault(key, value)
                for key, value in (item.get("defaultRequest") or {}).items():
                    requests.setdefault(key, value)
        if limits:
            resources["limits"] = limits
        if requests:
            resources["requests"] = requests
        if not resources:
            del container["resources"]
