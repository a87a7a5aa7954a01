"""The builders: every object valid against the Kubernetes schemas, and as the shop says."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from shopfleet.gateway.routes import RouteTableDoc, parse_route_table
from shopfleet.services import SERVICES
from shopfleet_operator import build
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop

K8S_VERSION = "1.33"
CONFIG = Config(
    namespace="shopfleet", image="registry.example.com/shopfleet:1", ingress_class="nginx"
)


def make(**spec: Any) -> Shop:
    body = {
        "displayName": "Acme",
        "hosts": ["acme.example.com", "www.acme.example.com"],
        "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "s", "key": "k"}},
        **spec,
    }
    return Shop.model_validate({"metadata": {"name": "acme", "namespace": "shops"}, "spec": body})


def validate(obj: dict) -> None:
    if obj["kind"] == "Component":  # Dapr's CRD: checked by shape below
        assert obj["apiVersion"] == "dapr.io/v1alpha1"
        assert obj["spec"]["type"] and obj["spec"]["version"] == "v1"
        return
    if obj["kind"] == "Configuration":  # Dapr's CRD too
        assert obj["apiVersion"] == "dapr.io/v1alpha1" and obj["spec"]["metrics"]["enabled"]
        return
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("tier", ["shared", "dedicated"])
@pytest.mark.parametrize("store", ["redis", "postgresql"])
def test_every_child_is_valid(tier: str, store: str) -> None:
    shop = make(tier=tier, stateStore=store, resources={"limits": {"cpu": "500m"}})
    objects = build.children(shop, CONFIG, {build.SECRET_STRIPE_KEY: "sk_test_1"})
    objects.append(build.route_configmap(RouteTableDoc(), CONFIG))
    for obj in objects:
        validate(obj)
    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))


def test_a_shared_shop() -> None:
    shop = make()
    objects = build.children(shop, CONFIG, {})
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Component", "Ingress", "Ingress", "Secret"]
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["metadata"]["namespace"] == "shopfleet"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "acme.example.com"
    component = next(o for o in objects if o["kind"] == "Component")
    assert component["scopes"] == list(SERVICES)
    assert {"name": "keyPrefix", "value": "acme"} in component["spec"]["metadata"]


def test_a_dedicated_shop() -> None:
    shop = make(
        tier="dedicated", resources={"limits": {"cpu": "500m", "memory": "256Mi"}, "replicas": 2}
    )
    objects = build.children(shop, CONFIG, {})
    assert objects[0]["kind"] == "Namespace" and objects[0]["metadata"]["name"] == "shop-acme"
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(SERVICES)
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        name = deployment["metadata"]["name"]
        assert pod["metadata"]["annotations"] == {
            "dapr.io/enabled": "true", "dapr.io/app-id": name,
            "dapr.io/app-port": "8000", "dapr.io/config": "shopfleet",
            # metrics on their own port, never the app's (issue 12, hole 11)
            "prometheus.io/scrape": "true", "prometheus.io/port": "9464",
            "prometheus.io/path": "/metrics",
        }  # fmt: skip
        container = pod["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/shopfleet:1"
        assert container["args"] == ["serve", name]
        assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
        assert deployment["spec"]["replicas"] == 2
    quota = next(o for o in objects if o["kind"] == "ResourceQuota")
    pods = 2 * len(SERVICES)
    assert quota["spec"]["hard"]["pods"] == str(2 * pods)
    assert quota["spec"]["hard"]["limits.cpu"] == f"{500 * 2 * pods}m"
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "shopfleet"
    }
    # from anywhere only the metrics port, which serves nothing else
    assert policy["spec"]["ingress"][1] == {"ports": [{"protocol": "TCP", "port": 9464}]}
    components = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Component")
    assert components == ["pubsub", "secretstore", "statestore"]
    (configuration,) = (o for o in objects if o["kind"] == "Configuration")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert configuration["metadata"]["name"] == annotations["dapr.io/config"]  # what pods name
    assert configuration["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_the_route_is_what_the_gateway_reads() -> None:
    shop = make(suspended=True, suspendedMessage="Closed.", quotas={"requestsPerMinute": 60})
    doc = build.with_route(RouteTableDoc(), "acme", build.route(shop))
    table = parse_route_table(build.route_configmap(doc, CONFIG)["data"]["routes.json"].encode())
    route = table.shop("acme")
    assert route.suspended and route.suspended_message == "Closed."
    assert route.requests_per_minute == 60
    assert table.shop_for_host("www.acme.example.com") == "acme"
    assert build.with_route(doc, "acme", None).shops == {}


def test_quantities_multiply_in_their_unit() -> None:
    assert build.times("500m", 4) == "2000m"
    assert build.times("1.5Gi", 2) == "3Gi"
    assert build.times("1", 10) == "10"


def test_the_url_is_the_first_host_or_the_gateway_path() -> None:
    assert build.shop_url(make(), CONFIG) == "https://acme.example.com/api/v1"
    assert (
        build.shop_url(make(hosts=[]), CONFIG) == "http://gateway.shopfleet.svc/shops/acme/api/v1"
    )


def test_a_dedicated_shop_admits_only_granted_callers() -> None:
    """Issue 12, hole 1: a dedicated shop's sidecars deny invocation but for the grants
    (the platform's gateway from the platform namespace, the shop's services from its
    own), each app answers only its sidecar, and its services carry a credential of the
    shop's own, derived from (never equal to) the platform's."""
    config = Config(namespace="shopfleet", image="x:1", platform_token="platform-secret")
    objects = build.children(make(tier="dedicated"), config, {})
    (configuration,) = [o for o in objects if o["kind"] == "Configuration"]
    access = configuration["spec"]["accessControl"]
    assert access["defaultAction"] == "deny"
    namespaces = {p["appId"]: p["namespace"] for p in access["policies"]}
    assert namespaces["gateway"] == "shopfleet"
    assert {ns for app, ns in namespaces.items() if app != "gateway"} == {"shop-acme"}
    (callers,) = [
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"].endswith("-callers")
    ]
    assert callers["metadata"]["namespace"] == "shop-acme"
    assert "platform-secret" not in str(callers)
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        template = deployment["spec"]["template"]
        assert (
            template["metadata"]["annotations"]["dapr.io/app-token-secret"]
            == callers["metadata"]["name"]
        )
        env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
        ref = env["SHOPFLEET_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (callers["metadata"]["name"], "service-token")
    again = build.children(make(tier="dedicated"), config, {})
    assert again == objects  # derived, not random: re-applying changes nothing
