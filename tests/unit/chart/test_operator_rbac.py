"""The operator's RBAC, read statically: no wildcards or RBAC powers, the bindings, the
secret readers.

Whether the operator may do what it does, and nothing more, is no longer checked here
against a list of requests kept by hand (which left out the `get` every reconcile starts
with, issue 13 defect 2): the operator tier runs the operator with the chart's
ServiceAccount token against an API server that evaluates the chart's RBAC, and
tests/operator/test_rbac.py derives the operator's requests from a recorded run. That
server also refuses Roles and bindings granting what their writer does not hold (RBAC's
escalation check), so the Roles the operator writes for a dedicated shop are checked there
too.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.unit.chart.conftest import NAMESPACE, ROOT

FULLNAME = "shopfleet"


def test_no_wildcards_and_no_rbac_powers(render: Any) -> None:
    """The operator writes Roles and RoleBindings (a dedicated shop's secret readers), but
    may not escalate: no `bind`/`escalate`, so Kubernetes lets it grant only what it holds."""
    rendered = render()
    for role in [*rendered.of_kind("ClusterRole"), *rendered.of_kind("Role")]:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            if "rbac.authorization.k8s.io" in rule["apiGroups"]:
                assert rule["apiGroups"] == ["rbac.authorization.k8s.io"]
                assert set(rule["resources"]) <= {"roles", "rolebindings"}
                assert set(rule["verbs"]) <= {"get", "create", "patch"}
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
        b
        for b in rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding")
        if any(s.get("name") == f"{FULLNAME}-app" for s in b["subjects"])
    ]
    assert bound_elsewhere == []  # the other apps' account may do nothing in the API
