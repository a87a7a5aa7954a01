"""The operator's RBAC, derived from what the operator does (not from a list kept by hand).

Every test of this tier runs the operator with the chart's ServiceAccount token and the
chart's RBAC evaluated by the API server, so a request the chart does not allow fails the
test that made it (conftest.py). Here the other half: a run through both tiers, drift,
a host change, a tier change, a stale name claim and a deletion records every request
the operator makes, and each permission the chart grants must have been used (least privilege).
"""

from __future__ import annotations

from shopfleet_operator.build.names import LABEL_PART, name_claim
from shopfleet_operator.config import Config
from tests.operator.conftest import PLATFORM_NS, Operator, chart_rbac, eventually
from tests.operator.shops import admin_secret, secret, shop
from tests.operator.test_reconcile import shop_children
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.support.cluster.apiserver import ApiServer

Grant = tuple[str, str, str]  # verb, group, resource (with subresource)


def grants(role: dict) -> set[Grant]:
    return {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def operator_roles() -> tuple[set[Grant], set[Grant]]:
    """(ClusterRole grants, platform-namespace Role grants) bound to the operator."""
    objects = chart_rbac()
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in objects
        if b["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and any(s["name"].endswith("-operator") for s in b["subjects"])
    }
    cluster: set[Grant] = set()
    platform: set[Grant] = set()
    for obj in objects:
        if (obj["kind"], obj["metadata"]["name"]) in bound:
            (cluster if obj["kind"] == "ClusterRole" else platform).update(grants(obj))
    return cluster, platform


async def tamper(api: ApiServer, name: str) -> int:
    """Change a label the operator sets on every child of the shop (drift)."""
    tampered = 0
    rbac = [
        obj
        for key in ("roles", "rolebindings")
        for obj in api.all(f"rbac.authorization.k8s.io/v1/{key}")
        if (obj["metadata"].get("labels") or {}).get("shopfleet.io/shop") == name
    ]
    for obj in [*shop_children(api, name), *rbac]:
        obj["metadata"]["labels"][LABEL_PART] = "tampered"
        await api.apply(obj)
        tampered += 1
    return tampered


async def test_the_operator_uses_every_permission_the_chart_gives_it(
    api: ApiServer, operator: Operator, platform_server, platform_token: str
) -> None:
    _, url = platform_server  # the gateway whose replicas it asks what they serve
    operator.use_platform(url, platform_token)
    await api.apply(admin_secret("one"))
    await api.apply(admin_secret("big"))
    await api.apply(secret("one-stripe", api_key="sk_test_1"))
    payments = {"stripeSecretRef": {"name": "one-stripe", "key": "api-key"}}
    await api.apply(shop("one", deletionPolicy="Delete", payments=payments))
    await api.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": "one-data",
                "namespace": PLATFORM_NS,
                "labels": {"shopfleet.io/shop": "one", "shopfleet.io/shop-namespace": PLATFORM_NS},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    await api.apply(shop("big", tier="dedicated"))
    # The claim on the name "big" of a Shop that went while no operator ran: taken over.
    await api.apply(
        name_claim("big", "gone", "uid-of-a-deleted-shop", Config(namespace=PLATFORM_NS))
    )
    # Conflicts send the operator to the API server for what its cache does not show: the
    # route table changed under it (409 on its precondition), objects made by someone else
    # (without its labels) before it makes them.
    api.fail("PATCH", r"/configmaps/shopfleet-routes$", status=409)
    await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-big"}})
    await api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "shop-one-one.example.com", "namespace": PLATFORM_NS},
            "spec": {"defaultBackend": {"service": {"name": "gateway", "port": {"number": 80}}}},
        }
    )
    async with operator.running():
        await eventually(lambda: condition(api, "one", "RoutesReady"))
        await eventually(lambda: api.obj("apps/v1/deployments", "shop-big", "catalog"))
        await eventually(lambda: condition(api, "big", "RoutesReady"))
        claim = api.obj("coordination.k8s.io/v1/leases", PLATFORM_NS, "shop-name-big")
        assert (
            claim["metadata"]["annotations"]["shopfleet.io/shop-uid"]
            == (api.obj(SHOPS, PLATFORM_NS, "big")["metadata"]["uid"])
        )
        # Drift on every child: the timer patches each kind back.
        assert await tamper(api, "one") and await tamper(api, "big")
        await eventually(
            lambda: all(
                o["metadata"]["labels"][LABEL_PART] != "tampered"
                for name in ("one", "big")
                for o in shop_children(api, name)
            )
        )
        # A host change (an Ingress deleted), a tier change (a namespace pruned), a deletion.
        await api.apply(
            shop("one", hosts=["one.example.org"], deletionPolicy="Delete", payments=payments)
        )
        await eventually(lambda: routes(api).get("one", {}).get("hosts") == ["one.example.org"])
        await api.apply(shop("big", tier="shared"))
        await eventually(lambda: api.obj("v1/namespaces", None, "shop-big") is None)
        await api.remove(SHOPS, PLATFORM_NS, "one")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "one") is None)
        assert api.obj("v1/persistentvolumeclaims", PLATFORM_NS, "one-data") is None

    used = {(a.verb, a.group, a.resource) for a in api.requests_of(operator.user) if a.allowed}
    used_here = {
        (a.verb, a.group, a.resource)
        for a in api.requests_of(operator.user)
        if a.allowed and a.namespace == PLATFORM_NS
    }
    cluster, platform = operator_roles()
    unused = sorted(" ".join(g) for g in cluster - used)
    assert unused == [], f"the ClusterRole grants what the operator never does: {unused}"
    unused_here = sorted(" ".join(g) for g in platform - used_here)
    assert unused_here == [], f"the Role grants what the operator never does: {unused_here}"
    assert platform & cluster == set(), "the Role repeats the ClusterRole"
    # Sanity: the record is of a real run (Stripe key read, status written).
    assert ("get", "", "secrets") in used
    assert ("patch", "shopfleet.io", "shops/status") in used
