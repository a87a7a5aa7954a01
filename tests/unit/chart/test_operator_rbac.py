"""The operator's RBAC: it may do what its code does, and nothing more.

The requests are derived from the operator itself: its builders produce every child of
the example shops (both tiers), and the handlers' fixed calls (route table, pruning,
secrets next to the Shop, kopf's own needs) are listed below with where they happen. A
small RBAC evaluator then checks the chart's ClusterRole and Role against them, both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from shopfleet_operator import build
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from shopfleet_operator.handlers.reconcile import SHARED_KINDS
from shopfleet_operator.kube import KINDS
from tests.unit.chart.conftest import NAMESPACE, ROOT, Rendered, container_env

SHOPS_NAMESPACE = "shops"  # where the example Shops are applied (not the platform's)
FULLNAME = "shopfleet"


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str
    namespace: str | None  # None: cluster-scoped object, or across all namespaces

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster)"
        return f"{self.verb} {self.group or 'core'}/{self.resource}{where}"


def kind_request(verb: str, kind: str, namespace: str | None) -> Request:
    api = KINDS[kind]
    group = "" if api.api_version == "v1" else api.api_version.split("/")[0]
    return Request(verb, group, api.plural, namespace if api.namespaced else None)


def example_shops() -> list[Shop]:
    shops = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Shop":
                doc["metadata"]["namespace"] = SHOPS_NAMESPACE
                shops.append(Shop.model_validate(doc))
    assert {s.spec.tier for s in shops} == {"shared", "dedicated"}
    return shops


def operator_requests(config: Config) -> set[Request]:
    wanted: set[Request] = set()
    for shop in example_shops():
        secret_values = {build.SECRET_STRIPE_KEY: "sk", build.SECRET_WEBHOOK: "wh"}
        for obj in build.children(shop, config, secret_values):
            for verb in ("get", "create", "patch"):  # children.apply
                wanted.add(kind_request(verb, obj["kind"], obj["metadata"].get("namespace")))
        # The admin password and Stripe keys: Secrets next to the Shop.
        wanted.add(kind_request("get", "Secret", shop.namespace))
        # kopf: list + watch Shops, patch finalizers/annotations; the handlers: write status.
        for verb in ("list", "watch", "patch"):
            wanted.add(Request(verb, "shopfleet.io", "shops", shop.namespace))
        wanted.add(Request("patch", "shopfleet.io", "shops/status", shop.namespace))
        wanted.add(Request("update", "shopfleet.io", "shops/finalizers", shop.namespace))
        wanted.add(Request("create", "", "events", shop.namespace))
    # The route table (handlers/routes.py).
    for verb in ("get", "create", "patch"):
        wanted.add(kind_request(verb, "ConfigMap", config.namespace))
    # Pruning (handlers/reconcile.py, handlers/delete.py).
    for verb in ("list", "delete"):
        for kind in [*SHARED_KINDS, "PersistentVolumeClaim"]:
            wanted.add(kind_request(verb, kind, config.namespace))
        wanted.add(kind_request(verb, "Namespace", None))
    # kopf: resources appearing after start-up.
    wanted.add(Request("list", "apiextensions.k8s.io", "customresourcedefinitions", None))
    wanted.add(Request("watch", "apiextensions.k8s.io", "customresourcedefinitions", None))
    return wanted


def grants(role: dict[str, Any], namespace: str | None) -> set[Request]:
    out = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add(Request(verb, group, resource, namespace))
    return out


def allowed(request: Request, cluster: set[Request], platform: set[Request]) -> bool:
    plain = Request(request.verb, request.group, request.resource, None)
    if plain in cluster:
        return True
    return request.namespace == NAMESPACE and request in platform


@pytest.fixture(scope="module")
def rbac(render: Any) -> tuple[Rendered, Config]:
    rendered = render()
    deployment = rendered.get("Deployment", f"{FULLNAME}-operator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config = Config.from_env(container_env(container, rendered.secret_data()))
    return rendered, config


def roles(rendered: Rendered) -> tuple[set[Request], set[Request]]:
    (cluster_role,) = rendered.of_kind("ClusterRole")
    operator_roles = [
        r for r in rendered.of_kind("Role") if r["metadata"]["name"] == f"{FULLNAME}-operator"
    ]
    (role,) = operator_roles
    return grants(cluster_role, None), grants(role, NAMESPACE)


def test_the_operator_may_do_everything_it_does(rbac: tuple[Rendered, Config]) -> None:
    rendered, config = rbac
    cluster, platform = roles(rendered)
    denied = sorted(str(r) for r in operator_requests(config) if not allowed(r, cluster, platform))
    assert denied == [], "the operator would be refused: " + "; ".join(denied)


def test_the_operator_may_do_nothing_else(rbac: tuple[Rendered, Config]) -> None:
    rendered, config = rbac
    cluster, platform = roles(rendered)
    wanted = operator_requests(config)
    # A cluster-wide grant must be needed outside the platform namespace (else a Role does).
    needed_cluster = {
        Request(r.verb, r.group, r.resource, None) for r in wanted if r.namespace != NAMESPACE
    }
    assert sorted(map(str, cluster - needed_cluster)) == []
    needed_here = {r for r in wanted if r.namespace == NAMESPACE}
    assert sorted(map(str, platform - needed_here)) == []
    # And the Role adds nothing the ClusterRole already gives.
    redundant = {r for r in platform if Request(r.verb, r.group, r.resource, None) in cluster}
    assert sorted(map(str, redundant)) == []


def test_no_wildcards_and_no_rbac_powers(render: Any) -> None:
    rendered = render()
    for role in [*rendered.of_kind("ClusterRole"), *rendered.of_kind("Role")]:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "rbac.authorization.k8s.io" not in rule["apiGroups"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_bindings_tie_each_role_to_the_operators_service_account(render: Any) -> None:
    rendered = render()
    account = rendered.get("ServiceAccount", f"{FULLNAME}-operator")["metadata"]["name"]
    operator = rendered.get("Deployment", f"{FULLNAME}-operator")
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == account
    bindings = [*rendered.of_kind("ClusterRoleBinding"), *rendered.of_kind("RoleBinding")]
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in bindings
        if b["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    }
    assert bound == {
        ("ClusterRole", rendered.of_kind("ClusterRole")[0]["metadata"]["name"]),
        ("Role", f"{FULLNAME}-operator"),
    }


def test_only_the_secret_stores_apps_may_read_secrets(render: Any) -> None:
    rendered = render()
    role = rendered.get("Role", f"{FULLNAME}-secrets")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    (binding,) = [
        b for b in rendered.of_kind("RoleBinding") if b["roleRef"]["name"] == f"{FULLNAME}-secrets"
    ]
    (subject,) = binding["subjects"]
    store = yaml.safe_load((ROOT / "components" / "secretstore-kubernetes.yaml").read_text())
    accounts = {}
    for deployment in rendered.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        app_id = (template["metadata"].get("annotations") or {}).get("dapr.io/app-id")
        if app_id:
            accounts[app_id] = template["spec"]["serviceAccountName"]
    readers = {app for app, account in accounts.items() if account == subject["name"]}
    assert readers == set(store["scopes"])
    others = {account for app, account in accounts.items() if app not in readers}
    assert others == {f"{FULLNAME}-app"}
    bound_elsewhere = [
        b for b in rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding")
        if any(s.get("name") == f"{FULLNAME}-app" for s in b["subjects"])
    ]  # fmt: skip
    assert bound_elsewhere == []  # the other apps' account may do nothing in the API
