"""A shop's life on the cluster: apply → Ready → used by its host through the ingress →
suspended (503) → resumed with its data → deleted (404, children gone). And a dedicated shop.

On the simulated cluster by default; on a real one with SHOPFLEET_TEST_KUBECONFIG.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import NAMESPACE, Platform, eventually, example
from tests.support.tenant_rows import databases_named, rows_in

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1800),
    pytest.mark.asyncio(loop_scope="session"),
]
SHOPS = ("shopfleet.io/v1alpha1", "shops")


async def shop_status(platform: Platform, slug: str) -> dict[str, Any]:
    shop = await platform.kube.get(*SHOPS, slug, namespace=NAMESPACE)
    return (shop or {}).get("status") or {}


async def condition(platform: Platform, slug: str, type_: str) -> dict[str, Any]:
    conditions = (await shop_status(platform, slug)).get("conditions") or []
    found = [c for c in conditions if c["type"] == type_]
    return found[0] if found else {}


async def wait_ready(platform: Platform, slug: str) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        found = await condition(platform, slug, "Ready")
        return found if found.get("status") == "True" else None

    return await eventually(ready, f"shop {slug} Ready", within_s=300, platform=platform)  # type: ignore[no-any-return]


async def apply(platform: Platform, documents: list[dict[str, Any]]) -> None:
    for doc in documents:
        doc["metadata"].setdefault("namespace", NAMESPACE)
        await platform.kube.apply(doc)


async def answers(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response | None:
    response = await client.get(path)
    return response if response.status_code == status else None


async def login(client: httpx.AsyncClient, api: str, email: str, password: str) -> str:
    response = await client.post(f"{api}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def admin_password(documents: list[dict[str, Any]]) -> str:
    """The password in the Secret the Shop's `admin.passwordSecretRef` names (an example
    may hold other Secrets too: a dedicated shop's Stripe keys)."""
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    ref = shop["spec"]["admin"]["passwordSecretRef"]
    (secret,) = [
        d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == ref["name"]
    ]
    if ref["key"] in (secret.get("stringData") or {}):
        return str(secret["stringData"][ref["key"]])
    return base64.b64decode(secret["data"][ref["key"]]).decode()


async def test_a_shared_shop_from_apply_to_delete(platform: Platform, slug: str) -> None:
    documents = example("shop.yaml", slug=slug)
    (spec,) = [d["spec"] for d in documents if d["kind"] == "Shop"]
    spec["quotas"] = {"products": 1, "ordersPerDay": 50}
    spec["deletionPolicy"] = "Delete"
    await apply(platform, documents)
    await wait_ready(platform, slug)
    status = await shop_status(platform, slug)
    assert status["url"].endswith("/api/v1")
    assert status["observedGeneration"] >= 1
    for type_ in ("RoutesReady", "StorageReady"):
        assert (await condition(platform, slug, type_))["status"] == "True"
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    host = shop["spec"]["hosts"][0]
    api = "/api/v1"

    async with platform.client(host) as client:
        # The gateway picks the new route up without a restart; the shop's Ingress routes
        # its host to it.
        first = await eventually(
            lambda: answers(client, f"{api}/products", 200),
            "the shop's catalog by its host",
            platform=platform,
        )
        assert first.json()["items"] == []

        # Its admin was bootstrapped from spec.admin and the referenced Secret.
        admin = await login(client, api, shop["spec"]["admin"]["email"], admin_password(documents))
        created = await client.post(
            f"{api}/products",
            headers={"authorization": f"Bearer {admin}"},
            json={"name": "Enamel mug", "sku": "MUG-01", "price": {"amount": 1450}, "on_hand": 5},
        )
        assert created.status_code == 201, created.text
        assert created.json()["price"]["currency"] == shop["spec"]["currency"]

        # Its quota holds: a second product is refused, and the status counts usage.
        refused = await client.post(
            f"{api}/products",
            headers={"authorization": f"Bearer {admin}"},
            json={"name": "Tea pot", "sku": "POT-01", "price": {"amount": 2450}, "on_hand": 5},
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/quota-exceeded")
        assert (refused.json()["quota"], refused.json()["used"]) == ("products", 1)
        usage = {"products": {"used": 1, "limit": 1}, "ordersToday": {"used": 0, "limit": 50}}

        async def counted() -> bool:
            return (await shop_status(platform, slug)).get("usage") == usage

        await eventually(counted, "status.usage", platform=platform)

        # A shopper registers and browses.
        registered = await client.post(
            f"{api}/auth/register",
            json={
                "email": "ada@example.com",
                "password": "correct horse battery",
                "display_name": "A",
            },
        )
        assert registered.status_code == 201, registered.text
        shopper = await login(client, api, "ada@example.com", "correct horse battery")
        me = await client.get(f"{api}/users/me", headers={"authorization": f"Bearer {shopper}"})
        assert me.json()["email"] == "ada@example.com"

        async def listed() -> list[str] | None:
            found = await client.get(f"{api}/products", params={"q": "mug"})
            skus = [p["name"] for p in found.json()["items"]]
            return skus or None

        assert await eventually(listed, "the product in search") == ["Enamel mug"]

        # Suspended: 503 with the shop's message; nothing is lost.
        patch = {"spec": {"suspended": True, "suspendedMessage": "Back on Monday."}}
        await platform.kube.patch(*SHOPS, slug, patch, namespace=NAMESPACE)
        closed = await eventually(
            lambda: answers(client, f"{api}/products", 503), "a suspended shop's 503"
        )
        assert closed.headers["content-type"].startswith("application/problem+json")
        assert closed.json()["detail"] == "Back on Monday."
        await platform.kube.patch(*SHOPS, slug, {"spec": {"suspended": False}}, namespace=NAMESPACE)
        await eventually(lambda: answers(client, f"{api}/products", 200), "the resumed shop")
        assert await listed() == ["Enamel mug"]

        # Deleted (deletionPolicy Delete): 404 (no Ingress names the host any more), what the
        # operator made for it is gone, and so are its rows in every service's database.
        databases = (
            await databases_named(platform.database_prefix, exclude=("state",))
            if platform.database_prefix
            else {}
        )
        before = await rows_in(databases, slug)
        assert not databases or all(before[s] > 0 for s in ("catalog", "identity")), before
        await platform.kube.delete(*SHOPS, slug, namespace=NAMESPACE)
        await eventually(
            lambda: _gone(platform, slug), f"shop {slug} and its finalizer gone", platform=platform
        )
        await eventually(lambda: answers(client, f"{api}/products", 404), "a deleted shop's 404")
        after = await rows_in(databases, slug)
        assert set(after.values()) <= {0}, f"rows left behind: {after}"
        print(f"rows deleted by service: {before}")  # shown by -rP: the report's numbers
    async with platform.client() as client:
        await eventually(
            lambda: answers(client, f"/shops/{slug}/api/v1/products", 404),
            "the deleted shop's 404 on the platform host",
        )
    selector = f"shopfleet.io/shop={slug}"
    for api_version, plural in (
        ("networking.k8s.io/v1", "ingresses"),
        ("v1", "secrets"),
        ("dapr.io/v1alpha1", "components"),
    ):
        left = await platform.kube.list(api_version, plural, label_selector=selector)
        assert left == [], f"{plural} left behind: {[o['metadata']['name'] for o in left]}"


async def _gone(platform: Platform, slug: str) -> bool:
    return await platform.kube.get(*SHOPS, slug, namespace=NAMESPACE) is None
