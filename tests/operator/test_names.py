"""One shop name, one tenant: a second Shop of a name, in another namespace, takes nothing.

The route, the Secret `shop-<name>`, the state component, the namespace `shop-<name>` and
the tenant are all keyed by the name alone; the first Shop to claim the name keeps them.
"""

from __future__ import annotations

import httpx

from tests.operator.conftest import PLATFORM_NS, Operator, RouteProjection, eventually, writes
from tests.operator.shops import ADMIN_PASSWORD, admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.support.cluster.apiserver import ApiServer

LEASES = "coordination.k8s.io/v1/leases"
INGRESSES = "networking.k8s.io/v1/ingresses"


def first_shop() -> dict:
    """Its data goes with it: the next holder of the name starts afresh (with Retain, the
    tenant would stay namespace a's: test_tenant_owners.py)."""
    return shop("bakery", "a", deletionPolicy="Delete")


def second_shop() -> dict:
    """Same name, another namespace, other hosts and another admin: a takeover attempt."""
    return shop(
        "bakery",
        "b",
        hosts=["bakery.intruder.example"],
        admin={
            "email": "mallory@intruder.example",
            "passwordSecretRef": {"name": "bakery-admin", "key": "password"},
        },
    )


def ready(api: ApiServer, ns: str):
    def check() -> dict | None:
        found = condition(api, "bakery", "Ready", ns)
        return found if found and found["status"] == "True" else None

    return check


def refused(api: ApiServer, ns: str):
    def check() -> dict | None:
        found = condition(api, "bakery", "Ready", ns)
        return found if found and found["reason"] == "NameTaken" else None

    return check


def name_taken_events(api: ApiServer, ns: str) -> list[dict]:
    return [e for e in api.all("v1/events", ns) if e["reason"] == "NameTaken"]


def checks_of_the_second(api: ApiServer, operator: Operator) -> list:
    """The operator's reconciles of b/bakery (each reads the Shop afresh; the claim it
    checks comes from the operator's cache, so it is not an API request)."""
    return [
        a
        for a in api.requests_of(operator.user)
        if a.resource == "shops" and a.verb == "get" and a.namespace == "b" and a.name == "bakery"
    ]


async def admin_signs_in(http: httpx.AsyncClient) -> bool:
    answer = await http.post(
        "/shops/bakery/api/v1/auth/login",
        json={"email": "admin@bakery.example.com", "password": ADMIN_PASSWORD},
    )
    return answer.status_code == 200


def holds_everything(api: ApiServer, ns: str) -> None:
    """The route, the shop's Secret and Ingress are the Shop of namespace `ns`'s."""
    assert routes(api)["bakery"]["hosts"] == (
        ["bakery.example.com"] if ns == "a" else ["bakery.intruder.example"]
    )
    secret = api.obj("v1/secrets", PLATFORM_NS, "shop-bakery")
    assert secret["metadata"]["labels"]["shopfleet.io/shop-namespace"] == ns
    ingresses = [
        o["metadata"]["name"]
        for o in api.all("networking.k8s.io/v1/ingresses", PLATFORM_NS)
        if o["metadata"]["labels"].get("shopfleet.io/shop") == "bakery"
    ]
    host = "bakery.example.com" if ns == "a" else "bakery.intruder.example"
    assert ingresses == [f"shop-bakery-{host}"]


async def test_a_second_shop_of_a_name_takes_nothing_and_waits_for_the_first_to_go(
    api: ApiServer,
    operator: Operator,
    platform_server,
    platform_token: str,
    routes_projection: RouteProjection,
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    for ns in ("a", "b"):
        await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await api.apply(admin_secret("bakery", ns))
    await api.apply(first_shop())

    async with operator.running(), httpx.AsyncClient(base_url=url, timeout=30) as http:
        first = await eventually(ready(api, "a"))

        # The second claim is refused, and says by whom and what to do.
        await api.apply(second_shop())
        taken = await eventually(refused(api, "b"), timeout=30)
        assert taken["status"] == "False"
        assert "a/bakery" in taken["message"] and "rename" in taken["message"].lower()
        assert condition(api, "bakery", "RoutesReady", "b")["reason"] == "NameTaken"
        assert "url" not in api.obj(SHOPS, "b", "bakery")["status"]
        assert await eventually(lambda: name_taken_events(api, "b"))
        claim = api.obj(LEASES, PLATFORM_NS, "shop-name-bakery")
        assert (
            claim["metadata"]["annotations"]["shopfleet.io/shop-uid"]
            == (api.obj(SHOPS, "a", "bakery")["metadata"]["uid"])
        )
        # Drift checks of the refused Shop (every second here) change nothing of the first.
        reads = len(checks_of_the_second(api, operator))
        await eventually(lambda: len(checks_of_the_second(api, operator)) >= reads + 3)
        holds_everything(api, "a")
        assert condition(api, "bakery", "Ready", "a") == first
        routes_projection.sync()
        await eventually(lambda: admin_signs_in(http))

        # Deleting the second leaves the first whole.
        await api.remove(SHOPS, "b", "bakery")
        await eventually(lambda: api.obj(SHOPS, "b", "bakery") is None)
        holds_everything(api, "a")
        assert api.obj(LEASES, PLATFORM_NS, "shop-name-bakery") == claim
        assert condition(api, "bakery", "Ready", "a") == first
        routes_projection.sync()
        assert await admin_signs_in(http)

        # Deleting the first releases the name: the waiting second one takes it.
        await api.apply(second_shop())
        await eventually(refused(api, "b"), timeout=30)
        # One Warning per refused Shop, not one per drift check (each drift check of the
        # waiting Shop checks the claim again and is refused again, silently).
        await eventually(lambda: len(name_taken_events(api, "b")) == 2)
        reads = len(checks_of_the_second(api, operator))
        await eventually(lambda: len(checks_of_the_second(api, operator)) >= reads + 3)
        assert len(name_taken_events(api, "b")) == 2
        await api.remove(SHOPS, "a", "bakery")
        await eventually(lambda: api.obj(SHOPS, "a", "bakery") is None)
        await eventually(ready(api, "b"), timeout=30)
        holds_everything(api, "b")
        claim = api.obj(LEASES, PLATFORM_NS, "shop-name-bakery")
        assert claim["metadata"]["labels"]["shopfleet.io/shop-namespace"] == "b"


async def test_a_shop_made_before_name_claims_claims_its_name_and_writes_nothing_else(
    api: ApiServer, operator: Operator
) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        await eventually(lambda: condition(api, "acme", "RoutesReady"))
        await eventually(
            lambda: any(e["reason"] == "PlatformNotConfigured" for e in api.all("v1/events"))
        )
    # As an operator without name claims left it: everything but the claim.
    await api.remove(LEASES, PLATFORM_NS, "shop-name-acme")
    status = api.obj(SHOPS, PLATFORM_NS, "acme")["status"]

    restarted = api.count
    async with operator.running():
        await eventually(lambda: api.obj(LEASES, PLATFORM_NS, "shop-name-acme"))
        await eventually(lambda: api.count > restarted + 40)  # drift checks, one a second
    assert writes(api, restarted) == [
        f"POST /apis/coordination.k8s.io/v1/namespaces/{PLATFORM_NS}/leases"
    ]
    assert api.obj(SHOPS, PLATFORM_NS, "acme")["status"] == status


async def test_of_two_shops_of_a_name_made_before_name_claims_the_older_keeps_it(
    api: ApiServer, operator: Operator
) -> None:
    """Both served by an operator without name claims (the finalizer says so): the older
    one claims the name whichever is reconciled first (`a/` is listed first)."""

    def served(body: dict) -> dict:
        body["metadata"]["finalizers"] = ["shopfleet.io/finalizer"]
        return body

    for ns in ("a", "b"):
        await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await api.apply(admin_secret("bakery", ns))
    await api.apply(served(shop("bakery", "b")))
    created = api.obj(SHOPS, "b", "bakery")["metadata"]["creationTimestamp"]
    # A creation timestamp of its own (they have seconds): the next second's.
    await eventually(lambda: api.obj(SHOPS, "b", "bakery", copied=False) and _second() > created)
    await api.apply(served(shop("bakery", "a", hosts=["bakery.example.net"])))
    # What the operator without name claims made for the younger one: its host's Ingress.
    await api.apply(younger_ingress := ingress_of("a", "bakery.example.net"))
    async with operator.running():
        await eventually(lambda: condition(api, "bakery", "RoutesReady", "b"))
        taken = await eventually(refused(api, "a"), timeout=30)
        assert "b/bakery" in taken["message"]
        assert routes(api)["bakery"]["hosts"] == ["bakery.example.com"]
        claim = api.obj(LEASES, PLATFORM_NS, "shop-name-bakery")
        assert claim["metadata"]["labels"]["shopfleet.io/shop-namespace"] == "b"

        # Deleting the younger removes what was its own, and nothing of the older's.
        await api.remove(SHOPS, "a", "bakery")
        await eventually(lambda: api.obj(SHOPS, "a", "bakery") is None)
    assert api.obj(INGRESSES, PLATFORM_NS, younger_ingress["metadata"]["name"]) is None
    assert api.obj(INGRESSES, PLATFORM_NS, "shop-bakery-bakery.example.com")
    assert api.obj("v1/secrets", PLATFORM_NS, "shop-bakery")
    assert routes(api)["bakery"]["hosts"] == ["bakery.example.com"]
    assert api.obj(LEASES, PLATFORM_NS, "shop-name-bakery") == claim


def ingress_of(namespace: str, host: str) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"shop-bakery-{host}",
            "namespace": PLATFORM_NS,
            "labels": {"shopfleet.io/shop": "bakery", "shopfleet.io/shop-namespace": namespace},
        },
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "gateway", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def _second() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
