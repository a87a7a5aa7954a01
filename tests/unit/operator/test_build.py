"""The builders: every object valid against the Kubernetes schemas, and as the shop says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from shopfleet.gateway.routes import parse_route_table
from shopfleet.kit.contracts.routes import RouteTableDoc
from shopfleet.services import SERVICES
from shopfleet_operator.build.accounts import TenantAccount
from shopfleet_operator.build.children import children
from shopfleet_operator.build.dapr import SECRET_USERS, STATE_USERS
from shopfleet_operator.build.names import secret_name, shop_url
from shopfleet_operator.build.namespace import times
from shopfleet_operator.build.routing import route, route_configmap, with_route
from shopfleet_operator.build.secrets import (
    SECRET_REDIS_PASSWORD,
    SECRET_STRIPE_KEY,
    callers_secret_name,
    shop_secret,
)
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
    objects = children(
        shop,
        CONFIG,
        {SECRET_STRIPE_KEY: "sk_test_1"},
        TenantAccount("tenant", "tenant-pw"),
    )
    objects.append(route_configmap(RouteTableDoc(), CONFIG))
    for obj in objects:
        validate(obj)
    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))


def test_a_shared_shop() -> None:
    shop = make()
    objects = children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Component", "Ingress", "Ingress", "Secret"]
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["metadata"]["namespace"] == "shopfleet"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "acme.example.com"
    component = next(o for o in objects if o["kind"] == "Component")
    # only the services that use a state store load it, and a broken one stops none of
    # them; Redis auth (on by default in the chart) through the connections Secret (defect 6)
    assert component["scopes"] == list(STATE_USERS)
    assert component["spec"]["ignoreErrors"] is True
    assert {"name": "keyPrefix", "value": "acme"} in component["spec"]["metadata"]
    assert {
        "name": "redisPassword",
        "secretKeyRef": {"name": "shopfleet-connections", "key": "redis-password"},
    } in component["spec"]["metadata"]


def test_shop_components_are_scoped_like_the_platforms() -> None:
    """STATE_USERS / SECRET_USERS are the scopes of components/ (derived from the code by
    tests/unit/components)."""
    import yaml

    root = Path(__file__).resolve().parents[3] / "components"
    state = yaml.safe_load((root / "statestore-redis.yaml").read_text())
    secrets = yaml.safe_load((root / "secretstore-kubernetes.yaml").read_text())
    assert sorted(STATE_USERS) == sorted(state["scopes"])
    assert sorted(SECRET_USERS) == sorted(secrets["scopes"])


def test_a_dedicated_shop() -> None:
    shop = make(
        tier="dedicated", resources={"limits": {"cpu": "500m", "memory": "256Mi"}, "replicas": 2}
    )
    objects = children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
    assert objects[0]["kind"] == "Namespace" and objects[0]["metadata"]["name"] == "shop-acme"
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(SERVICES)
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        name = deployment["metadata"]["name"]
        assert pod["metadata"]["annotations"] == {
            "dapr.io/enabled": "true",
            "dapr.io/app-id": name,
            "dapr.io/app-port": "8000",
            "dapr.io/config": "shopfleet",
            # metrics on their own port, never the app's (issue 12, hole 11)
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9464",
            "prometheus.io/path": "/metrics",
            "dapr.io/graceful-shutdown-seconds": "30",
            "dapr.io/block-shutdown-duration": "30s",
        }
        container = pod["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/shopfleet:1"
        assert container["command"][:4] == ["shopfleet", "serve", name, "--no-migrate"]
        assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
        assert deployment["spec"]["replicas"] == 2
    quota = next(o for o in objects if o["kind"] == "ResourceQuota")
    # replicas + a surge pod (25% of 2, rounded up) per service, each with its sidecar
    # (whose CPU limit is the LimitRange's default, the app's 500m)
    pods = (2 + 1) * len(SERVICES)
    assert quota["spec"]["hard"]["pods"] == str(pods)
    assert quota["spec"]["hard"]["limits.cpu"] == str(pods)  # pods × (500m + 500m)
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "shopfleet"
    }
    # from any namespace only the metrics ports (app, daprd), which serve nothing else
    assert policy["spec"]["ingress"][1] == {
        "from": [{"namespaceSelector": {}}],
        "ports": [{"protocol": "TCP", "port": 9464}, {"protocol": "TCP", "port": 9090}],
    }
    components = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Component")
    assert components == ["pubsub", "secretstore", "statestore"]
    (configuration,) = (o for o in objects if o["kind"] == "Configuration")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert configuration["metadata"]["name"] == annotations["dapr.io/config"]  # what pods name
    assert configuration["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_the_route_is_what_the_gateway_reads() -> None:
    shop = make(suspended=True, suspendedMessage="Closed.", quotas={"requestsPerMinute": 60})
    doc = with_route(RouteTableDoc(), "acme", route(shop))
    table = parse_route_table(route_configmap(doc, CONFIG)["data"]["routes.json"].encode())
    served = table.shop("acme")
    assert served.suspended and served.suspended_message == "Closed."
    assert served.requests_per_minute == 60
    assert table.shop_for_host("www.acme.example.com") == "acme"
    assert with_route(doc, "acme", None).shops == {}


def test_quantities_multiply_in_their_unit() -> None:
    assert times("500m", 4) == "2000m"
    assert times("1.5Gi", 2) == "3Gi"
    assert times("1", 10) == "10"


def test_the_url_is_the_first_host_or_the_gateway_path() -> None:
    assert shop_url(make(), CONFIG) == "http://acme.example.com/api/v1"  # no TLS
    assert shop_url(make(hosts=[]), CONFIG) == "http://gateway.shopfleet.svc/shops/acme/api/v1"


def test_a_dedicated_shop_admits_only_granted_callers() -> None:
    """Issue 12, hole 1: a dedicated shop's sidecars deny invocation but for the grants
    (the platform's gateway from the platform namespace, the shop's services from its
    own), each app answers only its sidecar, and its services carry a credential of the
    shop's own, derived from (never equal to) the platform's."""
    config = Config(namespace="shopfleet", image="x:1", platform_token="platform-secret")
    objects = children(make(tier="dedicated"), config, {}, TenantAccount("tenant", "tenant-pw"))
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
    again = children(make(tier="dedicated"), config, {}, TenantAccount("tenant", "tenant-pw"))
    assert again == objects  # derived, not random: re-applying changes nothing


def decoded(secret: dict) -> dict[str, str]:
    import base64

    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_a_dedicated_shops_statestore_logs_in_as_its_own_redis_user() -> None:
    """The shop's `statestore` reads `redisUsername` and `redisPassword` from the shop's
    own Secret (Dapr resolves it in the component's namespace): its account, never the
    platform Redis's password."""
    config = Config(namespace="shopfleet", image="x:1", redis_password="redis-pw")
    objects = children(make(tier="dedicated"), config, {}, TenantAccount("tenant", "tenant-pw"))
    (state,) = [
        o for o in objects if o["kind"] == "Component" and o["metadata"]["name"] == "statestore"
    ]
    refs = {m["name"]: m.get("secretKeyRef") for m in state["spec"]["metadata"]}
    (secret,) = [
        o
        for o in objects
        if o["kind"] == "Secret" and o["metadata"]["name"] == refs["redisPassword"]["name"]
    ]
    assert secret["metadata"]["namespace"] == "shop-acme"
    assert decoded(secret)[refs["redisUsername"]["key"]] == "tenant"
    assert decoded(secret)[refs["redisPassword"]["key"]] == "tenant-pw"
    assert "redis-pw" not in decoded(secret).values()
    # The shared tier's Secret holds no platform password (the chart's Secret does).
    shared = shop_secret(make(), config, {}, TenantAccount("tenant", "tenant-pw"))
    assert SECRET_REDIS_PASSWORD not in decoded(shared)


def test_only_the_secret_readers_may_read_the_shops_secrets() -> None:
    """A dedicated shop's identity and payments read Secrets through Dapr's Kubernetes
    secret store, with their pod's token: each may `get` the Secrets it reads, by name,
    and nothing else; the other services may read none."""
    shop = make(tier="dedicated")
    objects = children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    accounts = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["serviceAccountName"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    granted: dict[str, set[str]] = {}
    for binding in bindings:
        assert binding["metadata"]["namespace"] == "shop-acme"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": binding["roleRef"]["name"],
        }
        role = roles[binding["roleRef"]["name"]]
        assert role["metadata"]["namespace"] == "shop-acme"
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert subject["namespace"] == "shop-acme"
            for rule in role["rules"]:
                assert (rule["apiGroups"], rule["resources"], rule["verbs"]) == (
                    [""],
                    ["secrets"],
                    ["get"],
                )
                granted.setdefault(subject["name"], set()).update(rule["resourceNames"])
    assert granted == {
        accounts["identity"]: {"shopfleet-platform"},
        accounts["payments"]: {secret_name(shop)},
    }
    assert set(SECRET_USERS) == {"identity", "payments"}
    # Every account is its own (no shared account carries another service's grant).
    assert len(set(accounts.values())) == len(accounts)


def test_a_dedicated_shops_identity_takes_a_platform_credential_of_its_own() -> None:
    """The gateway bootstraps a dedicated shop's tenant in the shop's identity, and reads
    its usage in its catalog and orders: those need a platform credential, but never the
    platform's own (issue 12)."""
    from shopfleet.kit.contracts.credentials import SHOP_PLATFORM_CREDENTIAL, derived_credential

    config = Config(namespace="shopfleet", image="x:1", platform_token="platform-secret")
    objects = children(make(tier="dedicated"), config, {}, TenantAccount("tenant", "tenant-pw"))
    assert "platform-secret" not in str(objects)
    (callers,) = [o for o in objects if o["metadata"]["name"] == callers_secret_name(make())]
    expected = derived_credential("platform-secret", "acme", SHOP_PLATFORM_CREDENTIAL)
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        token = env.get("SHOPFLEET_PLATFORM_TOKEN")
        if deployment["metadata"]["name"] not in ("identity", "catalog", "orders"):
            assert token is None  # only these have platform endpoints the gateway calls
            continue
        ref = token["valueFrom"]["secretKeyRef"]
        assert ref["name"] == callers["metadata"]["name"]
        assert decoded(callers)[ref["key"]] == expected


def test_a_dedicated_shops_pubsub_is_the_platforms_with_queues_of_its_own() -> None:
    """The platform's pub/sub metadata (components/pubsub-rabbitmq.yaml: durable queues
    that outlive their consumers, persistent messages, confirms, dead-lettering, ...), and
    a consumerID with `{namespace}`: daprd makes it `<namespace>.<app-id>`, so the shop's
    queues are never the pooled services' `<app-id>-<topic>` (whose other
    deletedWhenUnused made the declaration fail, and whose events two tenants' consumers
    would have shared), and it scopes the topics to the namespace."""
    import yaml

    root = Path(__file__).resolve().parents[3] / "components"
    platform = yaml.safe_load((root / "pubsub-rabbitmq.yaml").read_text())
    shop = make(tier="dedicated")
    (pubsub,) = (
        o
        for o in children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
        if o["kind"] == "Component" and o["metadata"]["name"] == "pubsub"
    )
    assert pubsub["spec"]["type"] == platform["spec"]["type"]
    ours = {i["name"]: i.get("value") for i in pubsub["spec"]["metadata"]}
    theirs = {i["name"]: i.get("value") for i in platform["spec"]["metadata"]}
    consumer = ours.pop("consumerID")
    assert "{namespace}" in consumer
    assert "consumerID" not in theirs  # the platform's: daprd's default, the app-id
    assert ours.pop("connectionString") is None  # from the shop's Secret
    theirs.pop("connectionString")
    assert ours == theirs


def test_a_dedicated_shops_secret_comes_before_what_reads_it() -> None:
    """A sidecar whose component names a missing Secret cannot start, and a container
    whose env names one waits: the Secret is made right after its namespace."""
    shop = make(tier="dedicated")
    objects = children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
    kinds = [o["kind"] for o in objects]
    secret = next(
        i
        for i, o in enumerate(objects)
        if o["kind"] == "Secret" and o["metadata"]["name"] == secret_name(shop)
    )
    assert kinds[0] == "Namespace" and secret == 1
    assert all(kinds.index(kind) > secret for kind in ("Component", "Deployment"))


def test_a_dedicated_shops_services_are_not_killed_while_they_start() -> None:
    """As the chart's pooled services: a startup probe holds liveness off while the app
    starts (its start waits for its sidecar), so a slow start is not a restart loop."""
    shop = make(tier="dedicated")
    for deployment in (
        o
        for o in children(shop, CONFIG, {}, TenantAccount("tenant", "tenant-pw"))
        if o["kind"] == "Deployment"
    ):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        startup = container["startupProbe"]
        assert startup["httpGet"] == container["livenessProbe"]["httpGet"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
