"""Who owns a tenant: a retained tenant is not handed to a Shop of another namespace."""

from __future__ import annotations

import asyncio
from typing import Any

from shopfleet.kit.contracts.tenants import TENANT_OWNED


def owner(namespace: str, uid: str) -> dict[str, str]:
    return {"namespace": namespace, "uid": uid}


async def bootstrap(identity: Any, shop: str, **changes: Any) -> Any:
    body = identity.tenant_body(shop) | changes
    return await identity.http.post("/internal/tenants", headers=identity.platform, json=body)


async def test_another_namespace_is_refused_the_same_namespace_adopts_it(identity: Any) -> None:
    first = await bootstrap(identity, "acme", owner=owner("a", "uid-1"))
    assert first.status_code == 201, first.text
    assert first.json()["owner"] == owner("a", "uid-1") and first.json()["adopted"] is False
    customer = await identity.register("acme", "shopper@example.com")

    # Shop `acme` of namespace a was deleted (Retain); a Shop `acme` of namespace b comes.
    refused = await bootstrap(identity, "acme", owner=owner("b", "uid-2"))
    problem = identity.assert_problem(refused, 409)
    assert problem["type"].endswith(TENANT_OWNED), problem
    assert problem["owner_namespace"] == "a"
    assert "namespace 'a'" in problem["detail"], problem
    assert "shopfleet shops purge acme" in problem["detail"], problem
    # An ownerless caller (the CLI) is refused an owned tenant too.
    identity.assert_problem(await bootstrap(identity, "acme"), 409)
    # Neither changed it.
    read = await identity.http.get("/internal/tenants/acme", headers=identity.platform)
    assert read.json()["owner"] == owner("a", "uid-1")

    # The Shop re-created in namespace a (new uid) adopts it, with its customers.
    again = await bootstrap(identity, "acme", owner=owner("a", "uid-3"))
    assert again.status_code == 200, again.text
    assert again.json() | {"adopted": None} == first.json() | {
        "created": False,
        "adopted": None,
        "owner": owner("a", "uid-3"),
    }
    assert again.json()["adopted"] is True
    tokens = await identity.login("acme", "shopper@example.com")
    assert tokens["access_token"] and customer["id"]
    # Unchanged: the same again is no adoption.
    same = await bootstrap(identity, "acme", owner=owner("a", "uid-3"))
    assert same.status_code == 200 and same.json()["adopted"] is False


async def test_a_tenant_without_an_owner_is_adopted_by_the_first_shop(identity: Any) -> None:
    made = await bootstrap(identity, "old")  # before owners were recorded, or by the CLI
    assert made.status_code == 201 and made.json()["owner"] is None
    assert (await bootstrap(identity, "old")).status_code == 200  # still ownerless: as before

    answers = await asyncio.gather(
        bootstrap(identity, "old", owner=owner("a", "uid-a")),
        bootstrap(identity, "old", owner=owner("b", "uid-b")),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert winner["adopted"] is True
    read = await identity.http.get("/internal/tenants/old", headers=identity.platform)
    assert read.json()["owner"] == winner["owner"]
