"""Idempotence, drift, conflicts and API errors, migrations between hosts and tiers."""

from __future__ import annotations

import kubernetes_validate
import pytest

from shopfleet.kit.contracts.secrets import STRIPE_SECRET_KEY
from shopfleet.services import SERVICES
from tests.operator.conftest import PLATFORM_NS, Operator, eventually, writes
from tests.operator.shops import admin_secret, secret, shop
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.support.cluster.apiserver import ApiServer, Refused

INGRESSES = "networking.k8s.io/v1/ingresses"
K8S_VERSION = "1.33"


def reconciled(api: ApiServer, name: str, generation: int, ns: str = PLATFORM_NS):
    def check():
        ready = condition(api, name, "Ready", ns)
        return ready and ready.get("observedGeneration") == generation and ready

    return check


def shop_children(api: ApiServer, name: str) -> list[dict]:
    found = []
    for key in (
        "v1/namespaces",
        "v1/secrets",
        "v1/services",
        "v1/serviceaccounts",
        "v1/resourcequotas",
        "v1/limitranges",
        "apps/v1/deployments",
        INGRESSES,
        "networking.k8s.io/v1/networkpolicies",
        "dapr.io/v1alpha1/components",
        "dapr.io/v1alpha1/configurations",
        "dapr.io/v1alpha1/resiliencies",
    ):
        for obj in api.all(key):
            if (obj["metadata"].get("labels") or {}).get("shopfleet.io/shop") == name:
                found.append(obj)
    return found


async def test_reapplying_and_restarting_write_nothing(api: ApiServer, operator: Operator) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        await eventually(reconciled(api, "acme", 1))
        # kopf posts events in the background: wait for the last one of the creation.
        await eventually(
            lambda: any(e["reason"] == "PlatformNotConfigured" for e in api.all("v1/events"))
        )
        settled = api.count
        await api.apply(shop("acme"))  # the same spec again: the API server changes nothing
        # Two drift checks (one a second) find nothing to do.
        await eventually(lambda: api.count > settled + 40)
    assert writes(api, settled) == []

    restarted = api.count
    async with operator.running():
        await eventually(lambda: api.count > restarted + 40)
    assert writes(api, restarted) == []


async def test_drift_is_repaired(api: ApiServer, operator: Operator) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        await eventually(reconciled(api, "acme", 1))
        name = "shop-acme-acme.example.com"
        await api.remove(INGRESSES, PLATFORM_NS, name)
        cm = api.obj("v1/configmaps", PLATFORM_NS, "shopfleet-routes")
        await api.apply({**cm, "data": {"routes.json": '{"shops": {}}'}})
        await eventually(lambda: api.obj(INGRESSES, PLATFORM_NS, name))
        await eventually(lambda: "acme" in routes(api))


async def test_conflicts_on_the_route_table_and_server_errors_are_retried(
    api: ApiServer, operator: Operator
) -> None:
    for name in ("one", "two", "three"):
        await api.apply(admin_secret(name))
    await api.apply(shop("one"))
    async with operator.running():
        await eventually(lambda: "one" in routes(api))
        api.fail("PATCH", "/configmaps/shopfleet-routes$", status=409, times=3)
        api.fail("POST", "/ingresses$", status=500, times=2)
        # (The shop's children are read from the watch-fed cache; the Shop, afresh.)
        api.fail("GET", "/shops/three$", status=503, times=2)
        await api.apply(shop("two"))
        await api.apply(shop("three"))
        await eventually(lambda: {"one", "two", "three"} <= set(routes(api)))
        for name in ("two", "three"):
            await eventually(
                lambda name=name: api.obj(INGRESSES, PLATFORM_NS, f"shop-{name}-{name}.example.com")
            )
            await eventually(lambda name=name: condition(api, name, "RoutesReady"))
    assert all(f.times == 0 for f in api.faults)


async def test_changing_hosts_migrates_the_route_and_ingresses(
    api: ApiServer, operator: Operator
) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        await eventually(reconciled(api, "acme", 1))
        await api.apply(shop("acme", hosts=["shop.acme.example.org", "acme.example.net"]))
        await eventually(reconciled(api, "acme", 2))
        assert routes(api)["acme"]["hosts"] == ["shop.acme.example.org", "acme.example.net"]
        names = sorted(o["metadata"]["name"] for o in api.all(INGRESSES))
        assert names == ["shop-acme-acme.example.net", "shop-acme-shop.acme.example.org"]
        status = api.obj(SHOPS, PLATFORM_NS, "acme")["status"]
        assert status["url"] == "http://shop.acme.example.org/api/v1"  # no TLS configured
        assert "acme.example.com" not in status["endpoints"]


async def test_a_host_of_another_shop_is_refused(api: ApiServer, operator: Operator) -> None:
    await api.apply(admin_secret("one"))
    await api.apply(admin_secret("two"))
    await api.apply(shop("one"))
    await api.apply(shop("two", hosts=["one.example.com"]))
    async with operator.running():
        taken = await eventually(
            lambda: (c := condition(api, "two", "RoutesReady")) and c["status"] == "False" and c
        )
        assert taken["reason"] == "HostTaken"
        assert "one.example.com" in taken["message"]
        assert routes(api)["one"]["hosts"] == ["one.example.com"]


async def test_an_invalid_shop_is_reported_not_looped(api: ApiServer, operator: Operator) -> None:
    bad = shop("bad", currency="XXX", quotas={"products": -1})
    # The API server refuses it by the CRD's schema, as a real one does...
    with pytest.raises(Refused) as refused:
        await api.apply(bad)
    assert refused.value.body["code"] == 422
    fields = {c["field"] for c in refused.value.body["details"]["causes"]}
    assert fields == {"spec.currency", "spec.quotas.products"}
    # ... but one stored under an older, looser CRD reaches the operator.
    api.validation = False
    await api.apply(bad)
    api.validation = True
    async with operator.running():
        ready = await eventually(lambda: condition(api, "bad", "Ready"))
        assert ready["reason"] == "InvalidSpec"
        assert "currency" in ready["message"]
        assert "quotas.products" in ready["message"]
    assert "bad" not in routes(api)


async def test_stripe_keys_land_in_the_shops_secret(api: ApiServer, operator: Operator) -> None:
    await api.apply(admin_secret("acme"))
    payments = {"stripeSecretRef": {"name": "acme-stripe", "key": "api-key"}}
    await api.apply(shop("acme", payments=payments))
    async with operator.running():
        missing = await eventually(
            lambda: (c := condition(api, "acme", "PaymentsReady")) and c["status"] == "False" and c
        )
        assert missing["reason"] == "StripeSecretMissing"
        await api.apply(secret("acme-stripe", api_key="sk_test_123"))
        await eventually(
            lambda: (c := condition(api, "acme", "PaymentsReady")) and c["status"] == "True"
        )
        data = api.obj("v1/secrets", PLATFORM_NS, "shop-acme")["data"]
        assert data[STRIPE_SECRET_KEY] == "c2tfdGVzdF8xMjM="  # the name payments reads


async def test_a_dedicated_shop_gets_its_namespace_and_services(
    api: ApiServer, operator: Operator, platform_server, platform_token: str
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    await api.apply(admin_secret("big"))
    resources = {"limits": {"cpu": "500m", "memory": "256Mi"}, "replicas": 2}
    await api.apply(shop("big", tier="dedicated", resources=resources))
    async with operator.running():
        waiting = await eventually(
            lambda: (
                (c := condition(api, "big", "Ready"))
                and c["reason"] == "DeploymentsUnavailable"
                and c
            )
        )
        assert waiting["status"] == "False"
        assert condition(api, "big", "Degraded")["status"] == "True"
        # Play the Deployment controller and the kubelet.
        assert await api.make_available("shop-big") == len(SERVICES)
        ready = await eventually(
            lambda: (c := condition(api, "big", "Ready")) and c["status"] == "True" and c
        )
        assert condition(api, "big", "Degraded")["status"] == "False"
        assert routes(api)["big"] == {
            **routes(api)["big"],
            "tier": "dedicated",
            "namespace": "shop-big",
        }
        children = shop_children(api, "big")
        kinds = sorted({o["kind"] for o in children})
        assert kinds == [
            "Component",
            "Configuration",
            "Deployment",
            "Ingress",
            "LimitRange",
            "Namespace",
            "NetworkPolicy",
            "Resiliency",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
        for obj in children:
            if obj["kind"] not in ("Component", "Configuration", "Resiliency"):  # Dapr's CRDs
                clean = {k: v for k, v in obj.items() if k != "status"}
                kubernetes_validate.validate(clean, K8S_VERSION, strict=True)
        deployment = api.obj("apps/v1/deployments", "shop-big", "catalog")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["dapr.io/app-id"] == "catalog"
        assert deployment["spec"]["replicas"] == 2
        assert ready["observedGeneration"] == 1

        # Back to the shared tier: the namespace and all in it go, the route follows.
        await api.apply(shop("big", tier="shared", resources=resources))
        await eventually(lambda: api.obj("v1/namespaces", None, "shop-big") is None)
        await eventually(lambda: routes(api)["big"]["tier"] == "shared")
        assert api.all("apps/v1/deployments", "shop-big") == []

        # Dedicated again, then deleted: nothing is left behind.
        await api.apply(shop("big", tier="dedicated", resources=resources))
        await eventually(lambda: api.obj("v1/namespaces", None, "shop-big"))
        await api.remove(SHOPS, PLATFORM_NS, "big")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "big") is None)
        await eventually(lambda: shop_children(api, "big") == [])  # the namespace terminates
        assert "big" not in routes(api)


async def test_a_shop_in_another_namespace_is_cleaned_up_without_owner_references(
    api: ApiServer, operator: Operator
) -> None:
    await api.apply(admin_secret("far", "default"))
    await api.apply(shop("far", "default"))
    async with operator.running():
        await eventually(reconciled(api, "far", 1, "default"))
        ingress = api.obj(INGRESSES, PLATFORM_NS, "shop-far-far.example.com")
        assert "ownerReferences" not in ingress["metadata"]  # owners cannot cross namespaces
        assert ingress["metadata"]["labels"]["shopfleet.io/shop-namespace"] == "default"
        await api.remove(SHOPS, "default", "far")
        await eventually(lambda: api.obj(SHOPS, "default", "far") is None)
        assert shop_children(api, "far") == []


async def test_a_missing_admin_secret_is_waited_for(
    api: ApiServer, operator: Operator, platform_server, platform_token: str
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    await api.apply(shop("late"))
    async with operator.running():
        waiting = await eventually(lambda: condition(api, "late", "Ready"))
        assert (waiting["status"], waiting["reason"]) == ("False", "AdminSecretMissing")
        assert "late-admin" in waiting["message"]
        await api.apply(admin_secret("late"))
        await eventually(lambda: condition(api, "late", "Ready")["status"] == "True")
        await eventually(lambda: any(e["reason"] == "ShopReady" for e in api.all("v1/events")))
    # A restarted operator finds the tenant bootstrapped already: nothing to write, not even
    # an event.
    restarted = api.count
    async with operator.running():
        await eventually(lambda: api.count > restarted + 40)
    assert writes(api, restarted) == []


async def test_data_is_kept_unless_the_policy_says_delete(
    api: ApiServer, operator: Operator
) -> None:
    for name, policy in (("keep", "Retain"), ("drop", "Delete")):
        await api.apply(admin_secret(name))
        await api.apply(shop(name, deletionPolicy=policy))
        await api.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": f"{name}-data",
                    "namespace": PLATFORM_NS,
                    "labels": {
                        "shopfleet.io/shop": name,
                        "shopfleet.io/shop-namespace": PLATFORM_NS,
                    },
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    async with operator.running():
        for name in ("keep", "drop"):
            await eventually(reconciled(api, name, 1))
            await api.remove(SHOPS, PLATFORM_NS, name)
            await eventually(lambda name=name: api.obj(SHOPS, PLATFORM_NS, name) is None)
    assert api.obj("v1/persistentvolumeclaims", PLATFORM_NS, "keep-data") is not None
    assert api.obj("v1/persistentvolumeclaims", PLATFORM_NS, "drop-data") is None
