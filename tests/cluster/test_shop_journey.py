"""A shop's life on a real cluster: apply → Ready → used through the gateway → suspended
(503) → resumed with its data → deleted (404, children gone). And a dedicated shop.

Marked `cluster`; skipped, saying why, unless SHOPFLEET_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import yaml

from tests.cluster.conftest import KUBECONFIG, NAMESPACE, SKIP_REASON, eventually, example, kubectl

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not KUBECONFIG, reason=SKIP_REASON),
    pytest.mark.timeout(1800),
]


def shop_status(slug: str) -> dict[str, Any]:
    out = kubectl("-n", NAMESPACE, "get", "shop", slug, "-o", "json")
    return json.loads(out).get("status") or {}


def condition(slug: str, type_: str) -> dict[str, Any]:
    found = [c for c in shop_status(slug).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


def wait_ready(slug: str) -> None:
    done = kubectl("-n", NAMESPACE, "wait", f"shop/{slug}", "--for=condition=Ready",
                   "--timeout=600s", check=False)  # fmt: skip
    if "condition met" not in done:
        conditions = shop_status(slug).get("conditions")
        pytest.fail(f"shop {slug} did not become Ready; its conditions: {conditions}")


def answers(client: httpx.Client, path: str, status: int) -> httpx.Response | None:
    response = client.get(path)
    return response if response.status_code == status else None


def login(client: httpx.Client, api: str, email: str, password: str) -> str:
    response = client.post(f"{api}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_shared_shop_from_apply_to_delete(gateway: httpx.Client, slug: str) -> None:
    manifest, shop = example("shop.yaml", slug=slug)
    kubectl("-n", NAMESPACE, "apply", "-f", "-", stdin=manifest)
    wait_ready(slug)
    status = shop_status(slug)
    assert status["url"].endswith("/api/v1")
    assert status["observedGeneration"] >= 1
    for type_ in ("RoutesReady", "StorageReady"):
        assert condition(slug, type_)["status"] == "True", condition(slug, type_)
    api = f"/shops/{slug}/api/v1"

    # The gateway picks the new route up without a restart.
    first = eventually(lambda: answers(gateway, f"{api}/products", 200), "the shop's catalog")
    assert first.json()["items"] == []

    # Its admin was bootstrapped from spec.admin and the referenced Secret.
    secrets = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Secret"]
    password = secrets[0]["stringData"]["password"]
    admin = login(gateway, api, shop["spec"]["admin"]["email"], password)
    created = gateway.post(
        f"{api}/products",
        headers={"authorization": f"Bearer {admin}"},
        json={"name": "Enamel mug", "sku": "MUG-01", "price": {"amount": 1450}, "on_hand": 5},
    )
    assert created.status_code == 201, created.text
    assert created.json()["price"]["currency"] == shop["spec"]["currency"]

    # A shopper registers and browses.
    registered = gateway.post(
        f"{api}/auth/register",
        json={"email": "ada@example.com", "password": "correct horse battery", "display_name": "A"},
    )
    assert registered.status_code == 201, registered.text
    shopper = login(gateway, api, "ada@example.com", "correct horse battery")
    me = gateway.get(f"{api}/users/me", headers={"authorization": f"Bearer {shopper}"})
    assert me.json()["email"] == "ada@example.com"
    listed = gateway.get(f"{api}/products", params={"q": "mug"})
    assert [p["sku"] for p in listed.json()["items"]] == ["MUG-01"]

    # Suspended: 503 with the shop's message; nothing is lost.
    patch = {"spec": {"suspended": True, "suspendedMessage": "Back on Monday."}}
    kubectl("-n", NAMESPACE, "patch", "shop", slug, "--type=merge", "-p", json.dumps(patch))
    closed = eventually(lambda: answers(gateway, f"{api}/products", 503), "a suspended shop's 503")
    assert closed.headers["content-type"].startswith("application/problem+json")
    assert closed.json()["detail"] == "Back on Monday."
    kubectl("-n", NAMESPACE, "patch", "shop", slug, "--type=merge",
            "-p", json.dumps({"spec": {"suspended": False}}))  # fmt: skip
    eventually(lambda: answers(gateway, f"{api}/products", 200), "the resumed shop")
    listed = gateway.get(f"{api}/products", params={"q": "mug"})
    assert [p["sku"] for p in listed.json()["items"]] == ["MUG-01"]

    # Deleted: 404, and what the operator made for it is gone.
    kubectl("-n", NAMESPACE, "delete", "shop", slug, "--wait=true", "--timeout=300s")
    eventually(lambda: answers(gateway, f"{api}/products", 404), "the 404 of a deleted shop")
    left = kubectl("get", "ingress,secret,components.dapr.io", "-A",
                   "-l", f"shopfleet.io/shop={slug}", "-o", "name")  # fmt: skip
    assert left.strip() == ""
    routes = json.loads(kubectl("-n", NAMESPACE, "get", "configmap", "-l",
                                "app.kubernetes.io/component=routes", "-o", "json"))  # fmt: skip
    (table,) = [json.loads(cm["data"]["routes.json"]) for cm in routes["items"]]
    assert slug not in table["shops"]


def test_a_dedicated_shop_gets_its_own_namespace(gateway: httpx.Client, slug: str) -> None:
    manifest, _ = example("shop-dedicated.yaml", slug=slug)
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in documents:
        if doc["kind"] == "Shop":
            doc["spec"].pop("payments", None)  # the example's Stripe keys are placeholders
            doc["spec"]["resources"]["replicas"] = 1  # a laptop cluster
    kubectl("-n", NAMESPACE, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    wait_ready(slug)
    namespace = f"shop-{slug}"
    objects = kubectl("-n", namespace, "get",
                      "deploy,svc,sa,networkpolicy,resourcequota,limitrange,components.dapr.io",
                      "-o", "name")  # fmt: skip
    for kind in ("deployment.apps/", "networkpolicy", "resourcequota/", "limitrange/", "component"):
        assert kind in objects, f"no {kind} in {namespace}: {objects}"
    api = f"/shops/{slug}/api/v1"
    eventually(lambda: answers(gateway, f"{api}/products", 200), "the dedicated shop's catalog")

    kubectl("-n", NAMESPACE, "delete", "shop", slug, "--wait=true", "--timeout=300s")
    eventually(
        lambda: not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name"),
        f"the removal of namespace {namespace}",
        within_s=600,
    )
    eventually(lambda: answers(gateway, f"{api}/products", 404), "the 404 of a deleted shop")
