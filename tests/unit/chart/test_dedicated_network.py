"""Who may reach a dedicated shop's pods: its NetworkPolicy (the operator's) against the
pods the chart really runs (the gateway's labels and namespace as Helm renders them), with
Kubernetes' own selector rules (tests/support/cluster/selectors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shopfleet_operator.build.accounts import TenantAccount
from shopfleet_operator.build.children import children
from shopfleet_operator.build.names import services
from shopfleet_operator.build.workloads import service_objects
from shopfleet_operator.config import Config
from tests.support.cluster.selectors import Peer, admitted, selector_matches
from tests.unit.chart.conftest import Rendered
from tests.unit.chart.test_dedicated_shops import dedicated_shop, operator_config

APP_PORT, METRICS_PORT = 8000, 9464
DAPRD_INTERNAL, DAPRD_METRICS = 50002, 9090  # sidecar-to-sidecar invocation; daprd's metrics

SCENARIOS = {
    "defaults": ({}, "shopfleet", "shopfleet"),
    # another release name and chart name in another namespace: nothing is hard-wired
    "renamed": ({"nameOverride": "fleet"}, "platform", "commerce"),
    "monitoring": ({"operator": {"monitoringNamespace": "observability"}}, "shopfleet", "shops"),
}


class World:
    def __init__(self, rendered: Rendered, namespace: str) -> None:
        self.rendered, self.namespace = rendered, namespace
        self.config: Config = operator_config(rendered)
        self.shop = dedicated_shop()
        self.policies = [
            o
            for o in children(self.shop, self.config, {}, TenantAccount("tenant", "tenant-pw"))
            if o["kind"] == "NetworkPolicy"
        ]
        assert self.policies, "a dedicated shop has a NetworkPolicy"

    def platform_pod(self, part: str, namespace: str | None = None) -> Peer:
        deployment = next(
            d
            for d in self.rendered.of_kind("Deployment")
            if d["metadata"]["labels"].get("app.kubernetes.io/component") == part
        )
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        return Peer(labels, namespace or self.namespace)

    def shop_pod(self, service: str) -> Peer:
        objects = service_objects(self.shop, self.config, service)
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        template = deployment["spec"]["template"]
        ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        return Peer(template["metadata"]["labels"], deployment["metadata"]["namespace"], {}, ports)

    def admits(self, source: Peer, target: Peer, port: int) -> bool:
        return admitted(self.policies, source, target, port)


@pytest.fixture(scope="module", params=list(SCENARIOS))
def world(request: pytest.FixtureRequest, render: Any) -> World:
    values, release, namespace = SCENARIOS[request.param]
    return World(render(values, release=release, namespace=namespace), namespace)


@pytest.mark.parametrize("service", services())
def test_the_gateway_reaches_each_service_sidecar(world: World, service: str) -> None:
    gateway, target = world.platform_pod("gateway"), world.shop_pod(service)
    assert world.admits(gateway, target, DAPRD_INTERNAL), (
        f"the gateway ({dict(gateway.labels)} in {gateway.namespace}) cannot reach "
        f"{target.namespace}/{service} on {DAPRD_INTERNAL}: {world.policies[0]['spec']}"
    )


def test_the_shops_own_sidecars_reach_each_other_and_nothing_else(world: World) -> None:
    orders, payments = world.shop_pod("orders"), world.shop_pod("payments")
    assert world.admits(orders, payments, DAPRD_INTERNAL)
    assert not world.admits(orders, payments, APP_PORT)  # only its own sidecar calls the app


def test_no_one_else_gets_in(world: World) -> None:
    target = world.shop_pod("catalog")
    elsewhere = world.platform_pod("gateway", namespace="default")  # same labels, wrong place
    pooled = world.platform_pod("catalog")  # a pooled service, in the platform namespace
    stranger = Peer({"app": "curl"}, "shop-other")
    for source in (elsewhere, pooled, stranger):
        for port in (DAPRD_INTERNAL, APP_PORT):
            assert not world.admits(source, target, port), (source, port)


def test_metrics_are_scraped_from_the_monitoring_namespace_only_on_metrics_ports(
    world: World,
) -> None:
    target = world.shop_pod("orders")
    monitoring = world.config.monitoring_namespace
    prometheus = Peer({"app.kubernetes.io/name": "prometheus"}, monitoring or "monitoring")
    for port in (METRICS_PORT, DAPRD_METRICS):
        assert world.admits(prometheus, target, port), f"metrics port {port} shut"
    for port in (APP_PORT, DAPRD_INTERNAL):
        assert not world.admits(prometheus, target, port), f"{port} open to Prometheus"
    if monitoring:
        other = Peer({"app.kubernetes.io/name": "prometheus"}, "default")
        assert not world.admits(other, target, METRICS_PORT)


def test_the_selector_rules() -> None:
    labels = {"a": "1", "b": "2"}
    assert selector_matches({}, labels) and not selector_matches(None, labels)
    assert selector_matches({"matchLabels": {"a": "1"}}, labels)
    assert not selector_matches({"matchLabels": {"a": "2"}}, labels)
    expressions = [
        ({"key": "a", "operator": "In", "values": ["1", "3"]}, True),
        ({"key": "c", "operator": "In", "values": ["1"]}, False),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, False),
        ({"key": "c", "operator": "NotIn", "values": ["1"]}, True),
        ({"key": "b", "operator": "Exists"}, True),
        ({"key": "b", "operator": "DoesNotExist"}, False),
    ]
    for expression, expected in expressions:
        assert selector_matches({"matchExpressions": [expression]}, labels) is expected, expression
