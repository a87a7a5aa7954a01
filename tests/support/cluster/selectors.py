"""Label selectors and NetworkPolicy ingress, evaluated as Kubernetes evaluates them.

One place for "does this policy let that pod in": the unit tests check the chart's and the
operator's objects with it, and the node's nftables rules should be derived from the same
answers (`network.py`).

- `selector_matches(selector, labels)`: a LabelSelector (`matchLabels` and
  `matchExpressions` with In, NotIn, Exists, DoesNotExist). `{}` selects everything; None
  (no selector) selects nothing.
- `ingress_admits(policy, source, target, port)`: whether one NetworkPolicy's ingress rules
  admit a connection from the pod `source` to the pod `target` on `port`. A pod is a
  `Peer`: its labels, its namespace, and that namespace's labels (a real API server sets
  `kubernetes.io/metadata.name` on every namespace; `Peer` does too).
- `admitted(policies, source, target, port)`: all of a namespace's policies together: a pod
  that no policy with `Ingress` selects accepts everything; otherwise a connection needs
  one rule of one selecting policy that admits it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def selector_matches(selector: Mapping | None, labels: Mapping[str, str] | None) -> bool:
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"unknown selector operator {operator!r}")
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Peer:
    """A pod as a NetworkPolicy sees it."""

    labels: Mapping[str, str]
    namespace: str
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)  # named container ports

    @property
    def all_namespace_labels(self) -> dict[str, str]:
        return {**self.namespace_labels, NAMESPACE_NAME_LABEL: self.namespace}


def _peer_admits(peer: Mapping, policy_namespace: str, source: Peer) -> bool:
    if "ipBlock" in peer:
        return False  # CIDRs: not a pod-to-pod rule (pods are never matched by ipBlock here)
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if namespaces is None:  # podSelector alone: pods of the policy's own namespace
        in_namespace = source.namespace == policy_namespace
    else:
        in_namespace = selector_matches(namespaces, source.all_namespace_labels)
    return in_namespace and (pods is None or selector_matches(pods, source.labels))


def _port_admits(ports: Iterable[Mapping] | None, target: Peer, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for item in ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        wanted = item.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = target.ports.get(wanted)
            if wanted is None:
                continue
        end = item.get("endPort", wanted)
        if wanted <= port <= end:
            return True
    return False


def selects(policy: Mapping, target: Peer) -> bool:
    """Whether `policy` governs `target`'s ingress."""
    spec = policy["spec"]
    types = spec.get("policyTypes") or ["Ingress"]
    return (
        "Ingress" in types
        and policy["metadata"].get("namespace") == target.namespace
        and selector_matches(spec.get("podSelector", {}), target.labels)
    )


def ingress_admits(
    policy: Mapping, source: Peer, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    if not selects(policy, target):
        return False
    namespace = policy["metadata"]["namespace"]
    for rule in policy["spec"].get("ingress") or []:
        sources = rule.get("from")
        if sources and not any(_peer_admits(peer, namespace, source) for peer in sources):
            continue
        if _port_admits(rule.get("ports"), target, port, protocol):
            return True
    return False


def admitted(
    policies: Iterable[Mapping], source: Peer, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    governing = [p for p in policies if selects(p, target)]
    if not governing:
        return True
    return any(ingress_admits(p, source, target, port, protocol) for p in governing)
