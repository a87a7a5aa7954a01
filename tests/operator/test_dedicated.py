"""A dedicated shop's namespace under a real server's rules: quantities read back canonical,
ResourceQuota and Pod Security admission of the pods its Deployments make (issue 13,
defects 7 and 8)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml

from shopfleet.services import SERVICES
from tests.operator.conftest import Operator, chart_objects, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import condition
from tests.support.cluster.admission import pod_security_violations
from tests.support.cluster.apiserver import ApiServer

NS = "shop-big"
QUOTAS = "v1/resourcequotas"
ROOT = Path(__file__).resolve().parents[2]


def sidecar() -> dict:
    """The container Dapr's injector adds: the chart's sidecar resources, daprd's own
    securityContext (no seccomp profile of its own: the pod's applies)."""
    values = yaml.safe_load((ROOT / "charts" / "shopfleet" / "values.yaml").read_text())
    resources = values["dapr"]["sidecar"]
    return {
        "name": "daprd",
        "image": "docker.io/daprio/daprd:1.15.0",
        "resources": {
            "requests": {"cpu": resources["cpuRequest"], "memory": resources["memoryRequest"]},
            "limits": {"memory": resources["memoryLimit"]},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
    }


def pod_of(deployment: dict, index: int) -> dict:
    """A pod as the ReplicaSet controller makes it, with the sidecar the injector adds."""
    template = copy.deepcopy(deployment["spec"]["template"])
    template["spec"]["containers"].append(sidecar())
    name = deployment["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": f"{name}-{index}", "namespace": NS},
        "spec": template["spec"],
    }


def surge(deployment: dict) -> int:
    """The extra pods of a rolling update (maxSurge, 25% by default, rounded up)."""
    value = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    replicas = deployment["spec"]["replicas"]
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


async def settled(api: ApiServer, operator: Operator, **resources) -> None:
    await api.apply(admin_secret("big"))
    await api.apply(shop("big", tier="dedicated", resources=resources))
    await operator.start()
    await eventually(lambda: condition(api, "big", "RoutesReady"))
    await eventually(lambda: len(api.all("apps/v1/deployments", NS)) == len(SERVICES))
    await eventually(lambda: api.obj(QUOTAS, NS, "shop"))


async def test_the_quota_is_not_patched_on_every_drift_check(
    api: ApiServer, operator: Operator
) -> None:
    """The server stores quantities canonical (`5120Mi` reads back `5Gi`): the operator must
    see its own quota as unchanged."""
    await settled(api, operator, requests={"memory": "640Mi"}, limits={"memory": "1024Mi"})
    start = api.count
    # The Deployments never become available here: the reconcile retries every 0.3 s and
    # the drift timer runs every second; a few of each.
    await eventually(lambda: api.count > start + 150)
    patched = [w for w in api.writes(start) if "/resourcequotas/" in w or "/limitranges/" in w]
    await operator.stop()
    assert patched == [], f"patched on every check: {patched[:3]} ({len(patched)} writes)"


async def test_the_quota_holds_a_rolling_update_with_sidecars(
    api: ApiServer, operator: Operator
) -> None:
    """Every Deployment at once with its surge pod, each pod with its Dapr sidecar, fits."""
    await settled(api, operator, replicas=2)
    await operator.stop()
    refused = []
    for deployment in api.all("apps/v1/deployments", NS):
        for index in range(deployment["spec"]["replicas"] + surge(deployment)):
            try:
                await api.apply(pod_of(deployment, index))
            except Exception as exc:  # Refused: the Status's message
                refused.append(str(exc))
    assert refused == [], refused[0]


async def test_dedicated_pods_pass_pod_security_restricted(
    api: ApiServer, operator: Operator
) -> None:
    await settled(api, operator)
    await operator.stop()
    for deployment in api.all("apps/v1/deployments", NS):
        template = deployment["spec"]["template"]["spec"]
        violations = pod_security_violations(template, "restricted")
        assert violations == [], f"{deployment['metadata']['name']}: {'; '.join(violations)}"
    labels = api.obj("v1/namespaces", None, NS)["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", labels
    # The server warned about no Deployment's template (PodSecurity checks them too), and
    # admits their pods, sidecar included.
    assert [w for w in api.warnings if "PodSecurity" in w] == []
    for deployment in api.all("apps/v1/deployments", NS):
        await api.apply(pod_of(deployment, 0))


async def test_a_dedicated_namespace_gets_the_platforms_dapr_quality(
    api: ApiServer, operator: Operator
) -> None:
    """The chart's Resiliency, the tracing and metrics of its Configuration, and its
    services' sidecar annotations (resources, health checks, body size, concurrency), in
    the shop's namespace: from the chart's definitions, which its operator Deployment
    passes on."""
    await settled(api, operator)
    await operator.stop()
    chart = {(o["kind"], o["metadata"]["name"]): o for o in chart_objects()}

    platform = chart[("Resiliency", "shopfleet")]
    own = api.obj("dapr.io/v1alpha1/resiliencies", NS, "shopfleet")
    assert own is not None, "no Resiliency in the shop's namespace"
    assert own["spec"] == platform["spec"]
    assert sorted(own["scopes"]) == sorted(SERVICES)

    platform_config = chart[("Configuration", "shopfleet")]["spec"]
    config = api.obj("dapr.io/v1alpha1/configurations", NS, "shopfleet")["spec"]
    for key in ("tracing", "metrics", "secrets"):
        assert config[key] == platform_config[key], key
    assert {p["namespace"] for p in config["accessControl"]["policies"]} == {"shopfleet", NS}

    pooled = chart[("Deployment", "shopfleet-catalog")]["spec"]["template"]["metadata"]
    dedicated = api.obj("apps/v1/deployments", NS, "catalog")["spec"]["template"]["metadata"]
    wanted = {
        k: v
        for k, v in pooled["annotations"].items()
        # The shop's sidecars hand their apps the shop's own token, not the platform's.
        if k.startswith("dapr.io/") and k != "dapr.io/app-token-secret"
    }
    got = {k: dedicated["annotations"].get(k) for k in wanted}
    assert got == wanted
