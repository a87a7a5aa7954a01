"""One shop name, one tenant, on the cluster: a second Shop of a name, applied in another
namespace, is refused (NameTaken) and takes nothing; the first shop's shoppers and admin
never notice it, before or after it is deleted."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.cluster.conftest import NAMESPACE, Platform, eventually, example
from tests.cluster.test_shop_journey import (
    SHOPS,
    admin_password,
    answers,
    apply,
    condition,
    login,
    wait_ready,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1800),
    pytest.mark.asyncio(loop_scope="session"),
]
API = "/api/v1"


async def still_served(client: httpx.AsyncClient, admin_login: tuple[str, str]) -> None:
    """The shopper finds the first shop's product; its admin still signs in."""
    found = await client.get(f"{API}/products", params={"q": "mug"})
    assert found.status_code == 200, found.text
    assert [p["name"] for p in found.json()["items"]] == ["Enamel mug"]
    await login(client, API, *admin_login)


async def test_a_second_shop_of_a_name_in_another_namespace_takes_nothing(
    platform: Platform, slug: str
) -> None:
    documents = example("shop.yaml", slug=slug)
    await apply(platform, documents)
    await wait_ready(platform, slug)
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    admin_login = (shop["spec"]["admin"]["email"], admin_password(documents))
    intruders = f"intruders-{uuid.uuid4().hex[:6]}"

    async with platform.client(shop["spec"]["hosts"][0]) as client:
        await eventually(lambda: answers(client, f"{API}/products", 200), "the first shop")
        admin = await login(client, API, *admin_login)
        created = await client.post(
            f"{API}/products",
            headers={"authorization": f"Bearer {admin}"},
            json={"name": "Enamel mug", "sku": "MUG-01", "price": {"amount": 1450}, "on_hand": 5},
        )
        assert created.status_code == 201, created.text

        async def listed() -> bool:
            found = await client.get(f"{API}/products", params={"q": "mug"})
            return bool(found.json()["items"])

        await eventually(listed, "the product in search")
        await still_served(client, admin_login)

        # The same name in another namespace, with hosts and an admin of its own.
        await platform.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": intruders}}
        )
        try:
            second = example("shop.yaml", slug=slug)
            for doc in second:
                doc["metadata"]["namespace"] = intruders
                if doc["kind"] == "Shop":
                    doc["spec"]["hosts"] = [f"{slug}-intruder.shops.localtest.me"]
                    doc["spec"]["admin"]["email"] = "mallory@example.com"
                await platform.kube.apply(doc)

            async def refused() -> dict | None:
                found = await platform.kube.get(*SHOPS, slug, namespace=intruders)
                conditions = ((found or {}).get("status") or {}).get("conditions") or []
                ready = [c for c in conditions if c["type"] == "Ready"]
                return ready[0] if ready and ready[0]["reason"] == "NameTaken" else None

            taken = await eventually(refused, "the second Shop refused", platform=platform)
            assert f"{NAMESPACE}/{slug}" in taken["message"]
            assert (await condition(platform, slug, "Ready"))["status"] == "True"
            await still_served(client, admin_login)

            # Deleted, it takes nothing of the first with it.
            await platform.kube.delete(*SHOPS, slug, namespace=intruders)

            async def gone() -> bool:
                return await platform.kube.get(*SHOPS, slug, namespace=intruders) is None

            await eventually(gone, "the second Shop deleted", platform=platform)
            assert (await condition(platform, slug, "Ready"))["status"] == "True"
            await still_served(client, admin_login)
            ingresses = await platform.kube.list(
                "networking.k8s.io/v1", "ingresses", label_selector=f"shopfleet.io/shop={slug}"
            )
            assert [i["spec"]["rules"][0]["host"] for i in ingresses] == shop["spec"]["hosts"]
        finally:
            await platform.kube.delete(*SHOPS, slug, namespace=intruders)
            await platform.kube.delete("v1", "namespaces", intruders)
