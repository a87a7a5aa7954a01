"""Who may reach a dedicated shop's pods (its NetworkPolicy) and which Secrets its
services' accounts may read (Role and RoleBinding)."""

from __future__ import annotations

import copy

from shopfleet_operator.build.dapr import secrets_read
from shopfleet_operator.build.names import dedicated_namespace, labels
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop


def secret_reader_rbac(shop: Shop, service: str) -> list[dict]:
    """Role and RoleBinding that let `service`'s ServiceAccount `get` the Secrets it reads
    through Dapr's Kubernetes secret store (with the pod's token), by name; nothing for a
    service that reads none. The operator holds `get` on secrets itself (its ClusterRole),
    which is what Kubernetes' escalation check asks of whoever creates these."""
    names = secrets_read(shop).get(service)
    if not names:
        return []
    ns = dedicated_namespace(shop)
    meta = {
        "name": f"{service}-secrets",
        "namespace": ns,
        "labels": {**labels(shop, "rbac"), "app.kubernetes.io/name": service},
    }
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": names,
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": copy.deepcopy(meta),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": meta["name"],
            },
            "subjects": [{"kind": "ServiceAccount", "name": service, "namespace": ns}],
        },
    ]


DAPR_INTERNAL_PORT = 50002  # daprd's sidecar-to-sidecar invocation port
DAPR_METRICS_PORT = 9090  # daprd's Prometheus port


def tcp(port: int) -> dict:
    return {"protocol": "TCP", "port": port}


def network_policy(shop: Shop, config: Config) -> dict:
    """Who may reach the shop's pods, and on which ports:

    - the platform's gateway (its pods' labels, in the platform namespace), and the shop's
      own pods, to the sidecars' invocation port: every call goes sidecar to sidecar;
    - Prometheus, from the monitoring namespace (any namespace when none is configured),
      to the apps' and the sidecars' metrics ports alone.
    """
    platform = {"matchLabels": {"kubernetes.io/metadata.name": config.namespace}}
    monitoring = (
        {"matchLabels": {"kubernetes.io/metadata.name": config.monitoring_namespace}}
        if config.monitoring_namespace
        else {}
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "only-gateway",
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "network"),
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": platform,
                            "podSelector": {"matchLabels": config.gateway_labels},
                        },
                        {"podSelector": {}},
                    ],
                    "ports": [tcp(DAPR_INTERNAL_PORT)],
                },
                {
                    "from": [{"namespaceSelector": monitoring}],
                    "ports": [tcp(config.metrics_port), tcp(DAPR_METRICS_PORT)],
                },
            ],
        },
    }
