"""How many pods a Deployment asks for, and how a pod stops: the chart's and the operator's.

On SIGTERM a service stops accepting requests, lets those in flight finish (up to
`http.gracefulTimeoutSeconds`), then its outbox relay publishes what is pending (the
outbox drain that components/README.md names) through the Dapr sidecar. The sidecar must
still be there for all of that (`dapr.io/block-shutdown-duration` holds its shutdown open,
`dapr.io/graceful-shutdown-seconds` bounds the rest), and the kubelet must not SIGKILL the
pod before the sidecar is done (`terminationGracePeriodSeconds`).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import yaml

from shopfleet.kit.outbox import OutboxRelay
from shopfleet_operator.build.names import services
from shopfleet_operator.build.workloads import service_objects
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from tests.unit.chart.conftest import CHART, ROOT, Rendered

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
FULLNAME = "shopfleet"


def outbox_drain_s() -> int:
    """The outbox drain components/README.md requires room for, as the relay really has it."""
    readme = (ROOT / "components" / "README.md").read_text()
    found = re.search(r"plus the\s+outbox drain \((\d+) s\)", readme)
    assert found, "components/README.md no longer names the outbox drain"
    drain = int(found.group(1))
    default = inspect.signature(OutboxRelay.stop).parameters["timeout_s"].default
    assert drain == default, f"README says {drain} s, OutboxRelay.stop waits {default} s"
    return drain


def duration_s(text: str) -> float:
    """A Go duration as daprd parses `dapr.io/block-shutdown-duration` (`30s`, `1m5s`)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a Go duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def graceful_timeout(container: dict[str, Any]) -> float:
    args = [*container.get("command", []), *container.get("args", [])]
    assert "--graceful-timeout" in args, f"{container['name']}: no --graceful-timeout in {args}"
    return float(args[args.index("--graceful-timeout") + 1])


def assert_shutdown_covers_the_drain(pod: dict[str, Any], where: str) -> None:
    annotations = pod["metadata"]["annotations"]
    spec = pod["spec"]
    app = spec["containers"][0]
    drain = graceful_timeout(app) + outbox_drain_s()
    graceful = float(annotations.get("dapr.io/graceful-shutdown-seconds", 5))  # daprd's default
    assert graceful >= drain, f"{where}: graceful-shutdown-seconds {graceful} < drain {drain} s"
    block = annotations.get("dapr.io/block-shutdown-duration")
    assert block is not None, f"{where}: no dapr.io/block-shutdown-duration (drain {drain} s)"
    blocked = duration_s(block)
    assert blocked >= drain, f"{where}: the sidecar blocks its shutdown {blocked} s < {drain} s"
    grace = spec.get("terminationGracePeriodSeconds", 30)  # Kubernetes' default
    assert blocked + graceful < grace, (
        f"{where}: sidecar shutdown {blocked} + {graceful} s is not below "
        f"terminationGracePeriodSeconds {grace}"
    )


# ---- defect 10: replicas 0 ------------------------------------------------------------


def test_a_service_scaled_to_zero_renders_zero_replicas(render: Any) -> None:
    services = [dict(svc) for svc in VALUES["services"]]
    services[0] = {**services[0], "replicas": 0}
    services[1] = {k: v for k, v in services[1].items() if k != "replicas"}
    rendered: Rendered = render({"services": services})
    zero = rendered.get("Deployment", f"{FULLNAME}-{services[0]['name']}")
    unset = rendered.get("Deployment", f"{FULLNAME}-{services[1]['name']}")
    assert zero["spec"]["replicas"] == 0, "replicas: 0 renders as " + str(zero["spec"]["replicas"])
    assert unset["spec"]["replicas"] == 1  # left out: one


# ---- defect 11: the sidecar outlives the app's drain ----------------------------------


@pytest.mark.parametrize("name", ["gateway", *[svc["name"] for svc in VALUES["services"]]])
def test_the_charts_sidecars_outlive_the_apps_drain(render: Any, name: str) -> None:
    deployment = render().get("Deployment", f"{FULLNAME}-{name}")
    assert_shutdown_covers_the_drain(deployment["spec"]["template"], f"chart {name}")


def test_the_dedicated_shops_sidecars_outlive_the_apps_drain() -> None:
    spec = {
        "displayName": "Acme",
        "tier": "dedicated",
        "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "s", "key": "k"}},
    }
    shop = Shop.model_validate({"metadata": {"name": "acme", "namespace": "shops"}, "spec": spec})
    for name in services():
        objects = service_objects(shop, Config(), name)
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        assert_shutdown_covers_the_drain(deployment["spec"]["template"], f"dedicated {name}")
