"""The simulated API server behaves as kube-apiserver does where the cluster tier relies on
it: HTTPS and tokens, RBAC, validation (422 shapes), canonical quantities, namespace
lifecycle, ResourceQuota and Pod Security admission, TokenRequest, watches."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shopfleet_operator.crd import crd_manifest
from tests.support.cluster.apiserver import ApiServer, Refused
from tests.support.cluster.schemas import canonical_quantity

NS = "team"
SA = "robot"
USER = f"system:serviceaccount:{NS}:{SA}"


class Client:
    def __init__(self, api: ApiServer, token: str | None) -> None:
        context = ssl.create_default_context(cafile=str(api.ca_path))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base = api.url
        self.session = aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(ssl=context)
        )

    async def call(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json"
    ) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, self.base + path, data=data, headers={"Content-Type": ctype}
        ) as answer:
            return answer.status, await answer.json(content_type=None), answer.headers

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    server = ApiServer()
    async with server.serving(san_names=["kubernetes.default.svc"]) as url:
        assert url.startswith("https://127.0.0.1:")
        await server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        await server.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": SA, "namespace": NS},
            }
        )
        await server.apply(crd_manifest())
        yield server


@pytest.fixture
async def admin(api: ApiServer) -> AsyncIterator[Client]:
    client = Client(api, api.admin_token)
    yield client
    await client.close()


@pytest.fixture
async def robot(api: ApiServer) -> AsyncIterator[Client]:
    client = Client(api, api.issue_token(NS, SA))
    yield client
    await client.close()


def shop(name: str = "acme", **spec: Any) -> dict:
    return {
        "apiVersion": "shopfleet.io/v1alpha1",
        "kind": "Shop",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "displayName": "Acme",
            "admin": {
                "email": "a@example.com",
                "passwordSecretRef": {"name": "acme-admin", "key": "password"},
            },
            **spec,
        },
    }


async def grant(api: ApiServer, rules: list[dict], *, cluster: bool = False) -> None:
    kind = "ClusterRole" if cluster else "Role"
    meta = {"name": "robot"} if cluster else {"name": "robot", "namespace": NS}
    await api.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": meta,
            "rules": rules,
        }
    )
    await api.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": f"{kind}Binding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "robot"},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}],
        }
    )


SHOPS = f"/apis/shopfleet.io/v1alpha1/namespaces/{NS}/shops"


# ---- authentication -----------------------------------------------------------------------


async def test_tokens_authenticate_and_unknown_ones_are_401(api: ApiServer, admin: Client) -> None:
    assert (await admin.call("GET", "/api/v1/namespaces"))[0] == 200
    for token in (None, "nonsense"):
        client = Client(api, token)
        status, body, _ = await client.call("GET", "/api/v1/namespaces")
        await client.close()
        assert (status, body["reason"]) == (401, "Unauthorized")


async def test_a_deleted_service_accounts_token_is_refused(api: ApiServer, robot: Client) -> None:
    assert (await robot.call("GET", "/api"))[0] == 200  # discovery: any authenticated user
    await api.remove("v1/serviceaccounts", NS, SA)
    assert (await robot.call("GET", "/api"))[0] == 401


async def test_token_request(api: ApiServer, admin: Client) -> None:
    status, body, _ = await admin.call(
        "POST",
        f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    assert (status, body["kind"]) == (201, "TokenRequest")
    client = Client(api, body["status"]["token"])
    status, denied, _ = await client.call("GET", f"/api/v1/namespaces/{NS}/secrets")
    await client.close()
    assert status == 403 and USER in denied["message"]
    status, _, _ = await admin.call(
        "POST", f"/api/v1/namespaces/{NS}/serviceaccounts/nobody/token", {}
    )
    assert status == 404


# ---- RBAC -----------------------------------------------------------------------------------


async def test_rbac_denial_has_the_real_servers_message(api: ApiServer, robot: Client) -> None:
    await api.apply(shop())
    status, body, _ = await robot.call("GET", f"{SHOPS}/acme")
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        f'shops.shopfleet.io "acme" is forbidden: User "{USER}" cannot get resource "shops" '
        f'in API group "shopfleet.io" in the namespace "{NS}"'
    )
    assert body["details"] == {"name": "acme", "group": "shopfleet.io", "kind": "shops"}
    status, body, _ = await robot.call("GET", "/api/v1/namespaces")
    assert body["message"] == (
        f'namespaces is forbidden: User "{USER}" cannot list resource "namespaces" in API '
        'group "" at the cluster scope'
    )


async def test_rbac_verbs_subresources_and_resource_names(api: ApiServer, robot: Client) -> None:
    await api.apply(shop("acme"))
    await api.apply(shop("other"))
    await grant(
        api,
        [
            {"apiGroups": ["shopfleet.io"], "resources": ["shops"], "verbs": ["get", "list"]},
            {
                "apiGroups": ["shopfleet.io"],
                "resources": ["shops/status"],
                "verbs": ["patch"],
                "resourceNames": ["acme"],
            },
        ],
    )
    assert (await robot.call("GET", f"{SHOPS}/acme"))[0] == 200
    assert (await robot.call("GET", SHOPS))[0] == 200
    merge = "application/merge-patch+json"
    status_patch = {"status": {"url": "https://x"}}
    assert (await robot.call("PATCH", f"{SHOPS}/acme/status", status_patch, merge))[0] == 200
    status, body, _ = await robot.call("PATCH", f"{SHOPS}/other/status", status_patch, merge)
    assert status == 403
    assert 'cannot patch resource "shops/status"' in body["message"]
    assert (await robot.call("PATCH", f"{SHOPS}/acme", {"spec": {}}, merge))[0] == 403
    # A Role grants in its namespace only.
    assert (await robot.call("GET", "/apis/shopfleet.io/v1alpha1/namespaces/default/shops"))[
        0
    ] == 403


async def test_rbac_wildcards_and_cluster_roles(api: ApiServer, robot: Client) -> None:
    await grant(api, [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}], cluster=True)
    assert (await robot.call("GET", "/api/v1/namespaces"))[0] == 200
    assert (await robot.call("GET", f"/api/v1/namespaces/{NS}/secrets"))[0] == 200
    assert (await robot.call("DELETE", f"/api/v1/namespaces/{NS}"))[0] == 403
    assert [a.verb for a in api.denied(USER)] == ["delete"]


# ---- validation ------------------------------------------------------------------------------


async def test_crd_validation_is_a_422_with_causes(admin: Client) -> None:
    bad = shop(tier="huge", hosts=["Not A Host"])
    del bad["spec"]["displayName"]
    status, body, _ = await admin.call("POST", SHOPS, bad)
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('Shop.shopfleet.io "acme" is invalid: [')
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert causes["spec.displayName"]["reason"] == "FieldValueRequired"
    assert causes["spec.tier"] == {
        "reason": "FieldValueNotSupported",
        "message": 'Unsupported value: "huge": supported values: "shared", "dedicated"',
        "field": "spec.tier",
    }
    assert causes["spec.hosts[0]"]["reason"] == "FieldValueInvalid"
    assert body["details"]["kind"] == "Shop" and body["details"]["group"] == "shopfleet.io"


async def test_crd_cel_rules_defaults_and_pruning(admin: Client) -> None:
    long_name = shop("a" * 45)
    status, body, _ = await admin.call("POST", SHOPS, long_name)
    assert status == 422
    assert any(
        "matches" in c["message"] or "Invalid" in c["message"] for c in body["details"]["causes"]
    )
    status, body, _ = await admin.call("POST", SHOPS, shop(unknownField=1))
    assert status == 201
    assert "unknownField" not in body["spec"]  # pruned
    assert body["spec"]["tier"] == "shared"  # defaulted
    assert body["spec"]["currency"] == "EUR"


async def test_builtin_validation(admin: Client) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}},
    }
    status, body, _ = await admin.call(
        "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment
    )
    assert status == 422
    fields = {c["field"] for c in body["details"]["causes"]}
    assert fields == {"spec.selector", "spec.template.spec.containers[0].name"}
    assert body["message"].startswith('Deployment.apps "web" is invalid: [')
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "b"},
        "bogus": 1,
    }
    status, body, headers = await admin.call("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)
    assert status == 201 and "bogus" not in body  # dropped, with a warning
    assert 'unknown field "bogus"' in headers["Warning"]


# ---- quantities --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("5120Mi", "5Gi"),
        ("16384Mi", "16Gi"),
        ("1000m", "1"),
        ("0.5", "500m"),
        ("1536Mi", "1536Mi"),
        ("2000", "2k"),
        ("100m", "100m"),
        ("1.5Gi", "1536Mi"),
        ("0.1m", "100u"),
        ("512", "512"),
    ],
)
def test_quantities_are_canonical(written: str, stored: str) -> None:
    assert canonical_quantity(written) == stored


async def test_quantities_are_stored_canonical(api: ApiServer) -> None:
    quota = await api.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q", "namespace": NS},
            "spec": {"hard": {"requests.memory": "5120Mi", "limits.cpu": "1000m", "pods": "10"}},
        }
    )
    assert quota["spec"]["hard"] == {"requests.memory": "5Gi", "limits.cpu": "1", "pods": "10"}
    limits = await api.apply(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "l", "namespace": NS},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "0.5"}}]},
        }
    )
    assert limits["spec"]["limits"][0]["default"] == {"cpu": "500m"}


# ---- namespace lifecycle -----------------------------------------------------------------------


async def test_a_terminating_namespace_refuses_creates(api: ApiServer, admin: Client) -> None:
    await api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": NS, "finalizers": ["example.com/hold"]},
        }
    )
    assert (await admin.call("DELETE", f"/api/v1/namespaces/{NS}"))[0] == 200
    status, body, _ = await admin.call(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}},
    )
    assert status == 403
    assert body["message"] == (
        f'configmaps "new" is forbidden: unable to create new content in namespace {NS} '
        "because it is being terminated"
    )
    # The namespace goes once its content is gone (the finalizer released).
    await api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": NS, "finalizers": []},
        }
    )
    for _ in range(100):
        if api.obj("v1/namespaces", None, NS) is None:
            break
        await asyncio.sleep(0.05)
    assert api.obj("v1/namespaces", None, NS) is None


# ---- admission: quota and Pod Security -------------------------------------------------------


def pod(name: str, *containers: dict, security: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "containers": list(containers),
            **({"securityContext": security} if security else {}),
        },
    }


def container(
    name: str, cpu: str | None = "100m", memory: str | None = "64Mi", **extra: Any
) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"name": name, "image": "x", "resources": {"requests": requests}, **extra}


async def test_quota_admission(api: ApiServer) -> None:
    await api.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"hard": {"requests.cpu": "250m", "requests.memory": "1Gi", "pods": "5"}},
        }
    )
    await api.apply(pod("one", container("app"), container("sidecar", cpu="50m")))
    with pytest.raises(Refused) as refused:
        await api.apply(pod("two", container("app"), container("sidecar", cpu="50m")))
    assert str(refused.value) == (
        'pods "two" is forbidden: exceeded quota: shop, requested: requests.cpu=150m, '
        "used: requests.cpu=150m, limited: requests.cpu=250m"
    )
    with pytest.raises(Refused) as refused:
        await api.apply(pod("three", container("app", cpu=None), container("daprd", cpu=None)))
    assert str(refused.value) == (
        'pods "three" is forbidden: failed quota: shop: must specify requests.cpu for: app,daprd'
    )


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


async def test_pod_security_restricted(api: ApiServer, admin: Client) -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    await api.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}}
    )
    with pytest.raises(Refused) as refused:
        await api.apply(pod("loose", container("app")))
    assert str(refused.value) == (
        'pods "loose" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "app" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities "
        '(container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot '
        '!= true (pod or container "app" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")'
    )
    await api.apply(pod("tight", container("app", securityContext=RESTRICTED)))
    host = pod("host", container("app", securityContext=RESTRICTED))
    host["spec"]["hostNetwork"] = True
    with pytest.raises(Refused, match=r"host namespaces \(hostNetwork=true\)"):
        await api.apply(host)
    # Workloads: warnings only.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "x"}]},
            },
        },
    }
    status, _, headers = await admin.call(
        "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment
    )
    assert status == 201
    assert 'would violate PodSecurity "restricted:latest"' in headers["Warning"]


async def test_a_pods_service_account_must_exist(api: ApiServer) -> None:
    missing = pod("p", container("app"))
    missing["spec"]["serviceAccountName"] = "ghost"
    with pytest.raises(Refused, match='serviceaccount "ghost" not found'):
        await api.apply(missing)


# ---- writes and watches ---------------------------------------------------------------------


async def test_put_strategic_and_json_patches(admin: Client) -> None:
    base = f"/apis/apps/v1/namespaces/{NS}/deployments"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "x", "env": [{"name": "A", "value": "1"}]},
                        {"name": "side", "image": "y"},
                    ]
                },
            },
        },
    }
    status, created, _ = await admin.call("POST", base, deployment)
    assert status == 201 and created["spec"]["replicas"] == 1  # defaulted
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "z"}]}}}}
    status, body, _ = await admin.call(
        "PATCH", f"{base}/web", patch, "application/strategic-merge-patch+json"
    )
    containers = body["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "z"), ("side", "y")]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}]
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    status, body, _ = await admin.call("PATCH", f"{base}/web", ops, "application/json-patch+json")
    assert body["spec"]["replicas"] == 3 and body["metadata"]["generation"] == 3
    replaced = {**body, "metadata": {**body["metadata"], "labels": {"b": "2"}}}
    status, body, _ = await admin.call("PUT", f"{base}/web", replaced)
    assert status == 200 and body["metadata"]["labels"] == {"b": "2"}
    stale = {**replaced, "metadata": {**replaced["metadata"], "resourceVersion": "1"}}
    assert (await admin.call("PUT", f"{base}/web", stale))[0] == 409


async def test_watch_from_a_resource_version(api: ApiServer, admin: Client) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    await admin.call(
        "POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}}
    )
    _, listed, _ = await admin.call("GET", path + "?labelSelector=x%20in%20(1,2)")
    assert listed["items"] == []
    rv = listed["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []

    async def watch() -> None:
        url = f"{admin.base}{path}?watch=true&resourceVersion={rv}&labelSelector=x"
        async with admin.session.get(url) as answer:
            async for line in answer.content:
                if line.strip():
                    event = json.loads(line)
                    events.append((event["type"], event["object"]["metadata"]["name"]))
                    if len(events) == 2:
                        return

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.1)
    for name, labels in (("skipped", {}), ("new", {"x": "1"})):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        await admin.call("POST", path, cm)
    await admin.call("DELETE", f"{path}/new")
    await asyncio.wait_for(task, 5)
    assert events == [("ADDED", "new"), ("DELETED", "new")]


async def test_immutable_fields(admin: Client) -> None:
    base = f"/apis/apps/v1/namespaces/{NS}/deployments"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "x"}},
                "spec": {"containers": [{"name": "app", "image": "x"}]},
            },
        },
    }
    assert (await admin.call("POST", base, deployment))[0] == 201
    patch = {"spec": {"selector": {"matchLabels": {"app": "web", "tier": "x"}}}}
    status, body, _ = await admin.call(
        "PATCH", f"{base}/web", patch, "application/merge-patch+json"
    )
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.selector"
    assert body["details"]["causes"][0]["message"].endswith("field is immutable")


async def test_rbac_escalation_is_refused(api: ApiServer, robot: Client) -> None:
    rbac_path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}"
    await grant(
        api,
        [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "rolebindings"],
                "verbs": ["create"],
            },
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["a"]},
        ],
    )

    def role(name: str, names: list[str]) -> dict:
        rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name},
            "rules": [{**rule, "resourceNames": names}],
        }

    assert (await robot.call("POST", f"{rbac_path}/roles", role("held", ["a"])))[0] == 201
    status, body, _ = await robot.call("POST", f"{rbac_path}/roles", role("more", ["a", "b"]))
    assert status == 403
    assert "is attempting to grant RBAC permissions not currently held" in body["message"]
    assert 'ResourceNames:["a", "b"]' in body["message"]
