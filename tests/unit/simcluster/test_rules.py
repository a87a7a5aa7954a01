"""Pure logic of the controllers and the network: selectors, rollouts, endpoints, rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cluster.client import plural_of
from tests.support.cluster.controllers import Controllers, scaled, template_hash
from tests.support.cluster.network import Network, PodNet
from tests.support.cluster.selectors import selector_matches


def test_label_selectors():
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({}, labels)
    assert not selector_matches(None, labels)
    assert selector_matches({"matchLabels": {"app": "web"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "api"}}, labels)

    def expr(op, *values):
        return {
            "matchExpressions": [
                {
                    "key": "tier",
                    "operator": op,
                    "values": list(values),
                }
            ]
        }

    assert selector_matches(expr("In", "front", "back"), labels)
    assert not selector_matches(expr("NotIn", "front"), labels)
    assert selector_matches(expr("Exists"), labels)
    assert not selector_matches(expr("DoesNotExist"), labels)
    assert selector_matches(expr("NotIn", "x"), {})


def test_plurals():
    assert plural_of("NetworkPolicy") == "networkpolicies"
    assert plural_of("Endpoints") == "endpoints"
    assert plural_of("Ingress") == "ingresses"
    assert plural_of("Deployment") == "deployments"
    assert plural_of("Resiliency") == "resiliencies"


def test_surge_and_unavailable_round_as_kubernetes_does():
    assert scaled(None, 2, "25%", True) == 1  # maxSurge 25% of 2, rounded up
    assert scaled(None, 2, "25%", False) == 0  # maxUnavailable 25% of 2, rounded down
    assert scaled("50%", 3, "25%", True) == 2
    assert scaled(2, 10, "25%", False) == 2


def test_the_template_hash_follows_the_template():
    a = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}
    b = {
        "metadata": {"labels": {"app": "x"}, "annotations": {"v": "2"}},
        "spec": {"containers": []},
    }
    assert template_hash(a) == template_hash(dict(a))
    assert template_hash(a) != template_hash(b)
    assert len(template_hash(a)) == 10


def _pod(name, ip, ready, labels=None, port_name="http", port=8000, ns="shop"):
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": name,
            "labels": labels or {"app": "web"},
        },
        "spec": {"containers": [{"ports": [{"name": port_name, "containerPort": port}]}]},
        "status": {
            "podIP": ip,
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_endpoints_from_ready_pods_with_named_target_ports():
    service = {
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        }
    }
    pods = [
        _pod("a", "10.0.0.2", True),
        _pod("b", "10.0.0.3", False),
        _pod("c", "10.0.0.4", True, port=9000),
        _pod("d", "10.0.0.5", True, labels={"app": "other"}),
        _pod("e", "10.0.0.6", True, port_name="metrics"),  # lacks the named port
    ]
    subsets = Controllers.endpoint_subsets(service, pods)
    by_port = {s["ports"][0]["port"]: s for s in subsets}
    assert set(by_port) == {8000, 9000}
    assert [a["ip"] for a in by_port[8000]["addresses"]] == ["10.0.0.2"]
    assert [a["ip"] for a in by_port[8000]["notReadyAddresses"]] == ["10.0.0.3"]
    assert [a["ip"] for a in by_port[9000]["addresses"]] == ["10.0.0.4"]


@pytest.fixture
def network() -> Network:
    import ipaddress

    net = Network(kube=None, run_id="sftest0")  # type: ignore[arg-type]
    net.pod_cidr = ipaddress.ip_network("10.99.1.0/24")
    net.service_cidr = ipaddress.ip_network("10.99.2.0/24")
    net.gateway_ip = "10.99.1.1"
    return net


def _attach(network: Network, pod: dict, ip: str) -> PodNet:
    meta = pod["metadata"]
    net = PodNet(meta["uid"], meta["namespace"], meta["name"], "ns", "veth", ip, Path("/x"))
    network.pods[meta["uid"]] = net
    network.pod_objs[meta["uid"]] = pod
    return net


def test_service_rules_dnat_to_ready_endpoints_and_refuse_without(network):
    web = _attach(network, _pod("web", "10.99.1.2", True), "10.99.1.2")
    network.services[("shop", "web")] = {"spec": {"ports": [{"name": "http", "port": 80}]}}
    network.services[("shop", "idle")] = {"spec": {"ports": [{"port": 81}]}}
    network._vips[("shop", "web")] = "10.99.2.10"
    network._vips[("shop", "idle")] = "10.99.2.11"
    network.endpoints[("shop", "web")] = {
        "subsets": [
            {
                "addresses": [{"ip": "10.99.1.2"}, {"ip": "10.99.1.3"}],
                "ports": [{"name": "http", "port": 8000}],
            }
        ]
    }
    rules = network.ruleset_for(web)
    assert (
        "ip daddr 10.99.2.10 tcp dport 80 dnat to numgen random mod 2 "
        "map { 0 : 10.99.1.2 . 8000, 1 : 10.99.1.3 . 8000 }" in rules
    )
    assert "ip daddr 10.99.2.11 tcp dport 81 reject with tcp reset" in rules
    assert "drop" not in rules  # no policy selects the pod
    hosts = network.hosts_for(web)
    assert "10.99.2.10\tweb.shop.svc.cluster.local web.shop.svc web.shop web\n" in hosts


def test_ingress_policy_rules(network):
    web = _attach(network, _pod("web", "10.99.1.2", True), "10.99.1.2")
    _attach(network, _pod("gw", "10.99.1.3", True, labels={"role": "gw"}), "10.99.1.3")
    _attach(network, _pod("far", "10.99.1.4", True, labels={"role": "gw"}, ns="other"), "10.99.1.4")
    network.namespaces["other"] = {"metadata": {"name": "other", "labels": {"team": "a"}}}
    network.policies[("shop", "p")] = {
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"role": "gw"}}}],
                    "ports": [{"port": "http"}],
                },
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"team": "a"}}},
                        {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}},
                    ],
                    "ports": [{"port": 9090, "endPort": 9099}],
                },
            ],
        }
    }
    rules = network.ruleset_for(web)
    assert "ip saddr { 10.99.1.3 } tcp dport 8000 accept" in rules
    assert "ip saddr { 10.99.1.4 } tcp dport 9090-9099 accept" in rules
    assert (
        "ip saddr 192.168.0.0/16 ip saddr != { 192.168.1.0/24 } tcp dport 9090-9099 accept" in rules
    )
    assert "ip saddr 10.99.1.1 accept" in rules  # the node (probes)
    assert rules.index("chain in") < rules.rindex("drop")
    assert "ct state established,related accept" in rules


def test_egress_policy_rules(network):
    web = _attach(network, _pod("web", "10.99.1.2", True), "10.99.1.2")
    network.policies[("shop", "p")] = {
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.99.1.1/32"}}], "ports": [{"port": 5432}]}],
        }
    }
    rules = network.ruleset_for(web)
    out = rules[rules.index("chain out") : rules.index("chain in")]
    assert "ip daddr 10.99.1.1/32 tcp dport 5432 accept" in out and "drop" in out
    assert "drop" not in rules[rules.index("chain in") :]  # ingress not isolated


def test_an_empty_ingress_policy_isolates(network):
    web = _attach(network, _pod("web", "10.99.1.2", True), "10.99.1.2")
    network.policies[("shop", "deny")] = {"spec": {"podSelector": {}}}
    rules = network.ruleset_for(web)
    inbound = rules[rules.index("chain in") :]
    assert "drop" in inbound and "tcp dport" not in inbound


def test_readiness_counts_successes_and_failures_in_a_row():
    from tests.support.cluster.node import ProbeState

    state = ProbeState({"successThreshold": 2, "failureThreshold": 3}, result=False)
    assert not state.record(True) and not state.result  # 1 of 2 successes
    assert state.record(True) and state.result  # ready
    assert not state.record(False) and not state.record(False)
    assert not state.record(True)  # the failure streak is broken
    assert [state.record(False) for _ in range(3)] == [False, False, True]
    assert not state.result and state.failed


def test_liveness_starts_alive_and_dies_at_the_failure_threshold():
    from tests.support.cluster.node import ProbeState

    state = ProbeState({"failureThreshold": 2, "periodSeconds": 1}, result=True)
    assert state.period == 1.0 and state.initial_delay == 0.0
    assert not state.record(False) and state.result
    assert state.record(False) and not state.result


def test_probe_defaults_are_kubernetes_defaults():
    from tests.support.cluster.node import ProbeState

    state = ProbeState({}, result=False)
    assert state.period == 10.0
    assert state.record(True) and state.result  # successThreshold 1
    assert [state.record(False) for _ in range(3)] == [False, False, True]  # failureThreshold 3
