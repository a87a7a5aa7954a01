"""The authorization matrix: every operation of the aggregated OpenAPI × every kind of
caller, on objects that belong to shopper A.

Issue 12, the security tier's authorization matrix (DESIGN §4, §5): no BOLA (B never reaches
A's objects), no leak (nothing of A's in anyone else's answers, lists included), no
crossing of shops (a credential of another shop finds nothing), 401 without a credential,
403 for a shopper on an Admin's operation, no 5xx. Operations, what each allows
(`x-shopfleet-access`) and request bodies all come from the gateway's `/openapi.json`: a
new route is in the matrix without editing this file (see tests/security/matrix.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shopfleet.platform import EmbeddedPlatform
from tests.security.conftest import Target, only
from tests.security.matrix import (
    Access,
    Builder,
    Operation,
    Undeclared,
    World,
    build_world,
    operations,
    run_order,
    verdict,
)

SHOP = "demo"


@pytest.fixture(scope="package")
async def document(target: Target) -> dict[str, Any]:
    async with target.client() as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
async def world(target: Target) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    """A's world, built once per target (≈ 30 s): the behind-the-gateway test, which
    changes nothing, runs before the matrix, which does."""
    async with target.client() as http:
        demo = target.demo
        yield (
            http,
            await build_world(
                http, SHOP, demo.admin_email, demo.admin_password, target.platform_token
            ),
        )


def test_every_operation_says_who_may_call_it(document: dict[str, Any]) -> None:
    """Issue 12, authorization matrix: an operation without `x-shopfleet-access` would slip
    past the matrix, so it fails here, saying what to declare."""
    undeclared = [op.key for op in operations(document) if op.access is None]
    assert not undeclared, (
        "These operations do not say who may call them. Give the route one of the kit's "
        "principal dependencies (OptionalUser, CurrentUser, OwnerOrAdmin, AdminUser), or, if "
        "it looks at no principal, `openapi_extra=PUBLIC` (shopfleet.kit.auth):\n  "
        + "\n  ".join(undeclared)
    )


async def test_no_internal_route_is_published_or_reachable(
    target: Target, document: dict[str, Any], client: httpx.AsyncClient
) -> None:
    """Issue 12, authorization matrix: internal routes (service to service, platform) are
    not in the aggregated OpenAPI and the gateway routes nothing to them."""
    published = [op.key for op in operations(document) if "/internal" in op.path]
    assert not published
    assert all(op.access is not Access.PLATFORM for op in operations(document))
    internal = {"/internal/tenants/{shop}", "/internal/shops/{shop}/orders/{order_id}"}
    if isinstance(target.platform, EmbeddedPlatform):  # every service's own, as it serves them
        internal |= {
            path
            for app in target.platform.apps.values()
            for path in app.openapi()["paths"]
            if path.startswith("/internal/")
        }
    for template in sorted(internal):
        path = template.replace("{shop}", SHOP)
        for url in (path, f"/shops/{SHOP}{path}", f"/shops/{SHOP}/api/v1{path}"):
            answer = await client.get(url)
            assert answer.status_code in (401, 404, 405), f"{url}: {answer.status_code}"


async def test_services_refuse_another_shops_credential_themselves(
    target: Target, document: dict[str, Any], world: tuple[httpx.AsyncClient, World]
) -> None:
    """Issue 12, authorization matrix, behind the gateway: services verify tokens too
    (DESIGN §5), so a credential of another shop finds nothing even if the gateway's check
    were gone — every operation that looks at its caller answers it 404."""
    only(target, "embedded")  # the service apps are in this process
    assert isinstance(target.platform, EmbeddedPlatform) and target.platform.blocks is not None
    invoker = target.platform.blocks.invoker  # how the gateway reaches them, minus its checks
    _, ids = world
    builder = Builder(document, ids, SHOP)
    strangers = [caller for caller in ids.callers.values() if caller.other_shop]
    failures = []
    for operation in sorted(operations(document), key=run_order):
        if operation.access in (None, Access.PUBLIC):
            continue  # public: nothing to refuse (the leak check is the matrix's)
        for caller in strangers:
            call = builder.call(operation)
            request = httpx.Request(
                call.method,
                call.url,
                params=call.query,
                json=call.json,
                files=call.files,
                headers=caller.headers,
            )
            answer = await invoker.invoke(
                operation.spec["tags"][0],
                call.method,
                call.url,
                body=request.read(),
                headers=[(k.lower(), v) for k, v in request.headers.raw],
                query=request.url.query.decode(),
            )
            response = httpx.Response(answer.status, content=answer.body)
            if wrong := verdict(operation.access, caller, call, response, ids):
                failures.append(f"{operation.key} as {caller.name}: {wrong}")
    assert not failures, "\n  ".join(failures)


async def test_the_authorization_matrix(
    document: dict[str, Any], world: tuple[httpx.AsyncClient, World]
) -> None:
    """Issue 12, authorization matrix: every operation × {anonymous, shopper A, shopper B,
    the shop's admin, another shop's admin, another shop's shopper} on A's objects."""
    http, ids = world
    builder = Builder(document, ids, SHOP)
    failures: list[str] = []
    for operation in sorted(operations(document), key=run_order):
        failures += await _check(http, builder, ids, operation)
    assert not failures, f"{len(failures)} failure(s):\n  " + "\n  ".join(failures)


async def _check(
    http: httpx.AsyncClient, builder: Builder, world: World, operation: Operation
) -> list[str]:
    access = operation.access
    if access is None:
        return [f"{operation.key}: no x-shopfleet-access (see the test above)"]
    failures = []
    for caller in world.callers.values():
        try:
            call = builder.call(operation)  # again for each caller: fresh emails
        except Undeclared as exc:
            return [str(exc)]
        answer = await http.request(
            call.method,
            call.url,
            params=call.query,
            json=call.json,
            files=call.files,
            headers=caller.headers,
        )
        wrong = verdict(access, caller, call, answer, world)
        if wrong:
            failures.append(
                f"{operation.key} [{access}] as {caller.name}: {wrong}\n"
                f"      sent {call.text()}\n      got {answer.status_code} {answer.text[:300]}"
            )
    return failures
