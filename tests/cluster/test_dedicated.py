"""A dedicated shop: its own namespace, pods Running and Ready under its NetworkPolicy,
quota and Pod Security level, a checkout through the gateway, payments in the shop's own
Stripe account, its own database role, RabbitMQ vhost and Redis user (and no platform
credential in its namespace), its quotas enforced by its own services and its usage in the
Shop's status, and deletion (`deletionPolicy: Delete`) that takes the namespace, the role,
the databases, the vhost, the users and its Redis keys with it.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
import redis

from tests.cluster.conftest import NAMESPACE, Platform, eventually, example
from tests.cluster.test_checkout import checkout
from tests.cluster.test_shop_journey import (
    SHOPS,
    admin_password,
    apply,
    login,
    shop_status,
    wait_ready,
)
from tests.support import accounts
from tests.support.cluster.deploy import RELEASE

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1800),
    pytest.mark.asyncio(loop_scope="session"),
]


def dedicated(slug: str, stripe_key: str) -> list[dict[str, Any]]:
    documents = example("shop-dedicated.yaml", slug=slug)
    for doc in documents:
        if doc["kind"] == "Shop":
            doc["spec"]["resources"]["replicas"] = 1  # one node
            doc["spec"]["deletionPolicy"] = "Delete"
            doc["spec"]["quotas"]["products"] = 1  # the checkout's product, and no other
            # Carts and sessions on the platform's Redis, as the shop's own ACL user (the
            # example's PostgreSQL state is the operator tier's: tests/operator).
            doc["spec"]["stateStore"] = "redis"
        elif doc["kind"] == "Secret" and "api-key" in doc.get("stringData", {}):
            doc["stringData"] = {"api-key": stripe_key, "webhook-secret": f"whsec_{slug}"}
    return documents


async def ready_pods(platform: Platform, namespace: str) -> list[dict[str, Any]] | None:
    pods = await platform.kube.list("v1", "pods", namespace=namespace)
    ready = [
        p
        for p in pods
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]
    return ready if pods and len(ready) == len(pods) else None


async def test_a_dedicated_shop_runs_isolated_and_takes_its_own_payments(
    platform: Platform, slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    stripe_key = f"sk_test_{slug.replace('-', '')}_own_account"
    documents = dedicated(slug, stripe_key)
    await apply(platform, documents)
    await wait_ready(platform, slug)
    namespace = f"shop-{slug}"

    found = await platform.kube.get("v1", "namespaces", namespace)
    assert found is not None
    labels = found["metadata"].get("labels") or {}
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    for api_version, plural in (
        ("networking.k8s.io/v1", "networkpolicies"),
        ("v1", "resourcequotas"),
        ("v1", "limitranges"),
        ("dapr.io/v1alpha1", "components"),
        ("dapr.io/v1alpha1", "resiliencies"),
    ):
        assert await platform.kube.list(api_version, plural, namespace=namespace), plural
    pods = await eventually(
        lambda: ready_pods(platform, namespace),
        f"every pod of {namespace} Ready",
        within_s=300,
        platform=platform,
    )
    deployments = await platform.kube.list("apps/v1", "deployments", namespace=namespace)
    assert len(pods) == len(deployments) >= 8

    _, payment = await checkout(platform, documents)
    assert payment["provider_ref"]
    await _quota_enforced_and_usage_shown(platform, slug, documents)

    await _no_platform_credential_in(platform, namespace)
    account = await _account(platform, slug)
    if platform.simulated is not None:
        await _paid_into_the_shops_own_account(platform, payment["provider_ref"], stripe_key)
        await _only_the_gateway_gets_in(platform, namespace)
        await _on_its_own_vhost_and_role(platform, account)
        await _on_its_own_redis_user(platform, namespace, account)
        _sidecars_warn_of_nothing(platform, namespace, pods, caplog)

    await platform.kube.delete(*SHOPS, slug, namespace=NAMESPACE)
    await eventually(
        lambda: _absent(platform, "v1", "namespaces", namespace),
        f"namespace {namespace} gone",
        within_s=300,
        platform=platform,
    )
    if platform.simulated is not None:
        run_prefix = _run_prefix(platform)
        leftovers = lambda: asyncio.to_thread(_left_of, account, run_prefix)  # noqa: E731
        await eventually(
            lambda: _none(leftovers), f"{account}'s role, databases, vhost, users, keys gone"
        )
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    async with platform.client(shop["spec"]["hosts"][0]) as http:
        await eventually(lambda: _answers(http, "/api/v1/products", 404), "the deleted shop's 404")


async def _quota_enforced_and_usage_shown(
    platform: Platform, slug: str, documents: list[dict[str, Any]]
) -> None:
    """`quotas.products: 1` (the checkout made one): the shop's own catalog refuses a
    second, and the Shop's status shows the usage, counted by the shop's own services."""
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    async with platform.client(shop["spec"]["hosts"][0]) as http:
        token = await login(
            http, "/api/v1", shop["spec"]["admin"]["email"], admin_password(documents)
        )
        refused = await http.post(
            "/api/v1/products",
            headers={"authorization": f"Bearer {token}"},
            json={"name": "Kettle", "sku": "KET-01", "price": {"amount": 900}, "on_hand": 1},
        )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("quota-exceeded") and problem["quota"] == "products", problem
    wanted = {"products": {"used": 1, "limit": 1}}

    async def usage() -> bool:
        return (await shop_status(platform, slug)).get("usage") == wanted

    await eventually(usage, f"status.usage {wanted}", within_s=60, platform=platform)


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def _account(platform: Platform, slug: str) -> str:
    """The shop's account (role, RabbitMQ user and vhost), from the operator's record."""
    record = await platform.kube.get("v1", "secrets", f"shop-{slug}-account", namespace=NAMESPACE)
    assert record is not None, "the operator keeps the shop's account in its own namespace"
    return _decoded(record)["username"]


async def _no_platform_credential_in(platform: Platform, namespace: str) -> None:
    """No Secret of the tenant's namespace holds a value of the platform's connections
    Secret (its PostgreSQL, RabbitMQ and Redis passwords, its URLs)."""
    deployment = await platform.kube.get(
        "apps/v1", "deployments", f"{RELEASE}-operator", namespace=NAMESPACE
    )
    assert deployment is not None
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    (name,) = [e["value"] for e in env if e["name"] == "SHOPFLEET_OPERATOR_CONNECTIONS_SECRET"]
    connections = await platform.kube.get("v1", "secrets", name, namespace=NAMESPACE)
    assert connections is not None
    credentials = {key: value for key, value in _decoded(connections).items() if value}
    assert {"postgres-password", "rabbitmq-password"} <= credentials.keys()
    for secret in await platform.kube.list("v1", "secrets", namespace=namespace):
        for key, value in _decoded(secret).items():
            leaked = [c for c, v in credentials.items() if v in value]
            assert not leaked, f"{namespace}/{secret['metadata']['name']}[{key}] holds {leaked}"


async def _on_its_own_vhost_and_role(platform: Platform, account: str) -> None:
    """The shop's services subscribe on its own vhost, and use its databases as its role."""
    queues = await asyncio.to_thread(accounts.queues, account)
    assert queues, f"no queue in the shop's vhost {account}"
    connected = await asyncio.to_thread(
        accounts.psql,
        f"SELECT DISTINCT usename FROM pg_stat_activity WHERE starts_with(datname, '{account}_')",
    )
    assert connected == [account], connected


def _sidecars_warn_of_nothing(
    platform: Platform, namespace: str, pods: list[dict[str, Any]], caplog: Any
) -> None:
    """The injector knew every annotation, and each sidecar every component metadata key,
    of the shop's pods (as on the platform's: the same definitions)."""
    unknown = [r.getMessage() for r in caplog.records if "unknown annotation" in r.getMessage()]
    assert [m for m in unknown if namespace in m] == []
    for pod in pods:
        log = platform.simulated.node.logs(namespace, pod["metadata"]["name"], "daprd")
        assert log and "unknown metadata key" not in log, log[-2000:]


async def _on_its_own_redis_user(platform: Platform, namespace: str, account: str) -> None:
    """The shop's state (its carts, from the checkout) is in Redis under its own prefix,
    written by its sidecars logged in as its own ACL user, which may touch nothing else:
    a pooled shop's key answers NOPERM."""
    secret = await platform.kube.get("v1", "secrets", namespace, namespace=namespace)
    assert secret is not None
    tenant = _decoded(secret)
    assert tenant["redis-username"] == account
    user = accounts.redis_user(account)
    assert user is not None and user["keys"] == [f"~{_run_prefix(platform)}{account}||*"]
    with redis.Redis.from_url(accounts.REDIS, decode_responses=True) as admin:
        own = list(admin.scan_iter(match=f"{_run_prefix(platform)}{account}||*"))
        assert own, f"no state of the shop under {account}||"
        clients = {c["user"] for c in admin.client_list() if c["name"].endswith(account)}
        assert clients == {account}, clients
        pooled = next(
            (
                k
                for k in admin.scan_iter(match=f"{_run_prefix(platform)}*||*")
                if not k.startswith(f"{_run_prefix(platform)}{account}||")
            ),
            f"{_run_prefix(platform)}demo||cart",
        )
    with redis.Redis.from_url(
        accounts.REDIS, username=account, password=tenant["redis-password"]
    ) as own_user:
        assert own_user.acl_whoami() == account
        assert own_user.hgetall(own[0])
        with pytest.raises(redis.exceptions.NoPermissionError):
            own_user.hgetall(pooled)


def _run_prefix(platform: Platform) -> str:
    """What the run's sidecar doubles put before every Redis key (daprd: nothing)."""
    return platform.simulated.node.dapr_options.get("prefix", "")


def _left_of(account: str, run_prefix: str) -> dict[str, list[str]]:
    with redis.Redis.from_url(accounts.REDIS, decode_responses=True) as admin:
        keys = list(admin.scan_iter(match=f"{run_prefix}{account}||*"))
    return {
        "roles": accounts.roles(account),
        "databases": accounts.databases(account),
        "vhosts": accounts.vhosts(account),
        "users": accounts.users(account),
        "redis users": accounts.redis_users(account),
        "redis keys": keys,
    }


async def _none(probe: Any) -> bool:
    return not any((await probe()).values())


async def _paid_into_the_shops_own_account(
    platform: Platform, intent_id: str, stripe_key: str
) -> None:
    """The emulator keeps one account per secret key: the intent is the shop's own."""
    ip, port = platform.simulated.network.service_address(NAMESPACE, "stripe-emulator", "http")
    async with httpx.AsyncClient(base_url=f"http://{ip}:{port}", timeout=10) as stripe:
        own = await stripe.get(
            f"/v1/payment_intents/{intent_id}", headers={"authorization": f"Bearer {stripe_key}"}
        )
        assert own.status_code == 200, own.text
        assert own.json()["status"] == "succeeded"
        other = await stripe.get(
            f"/v1/payment_intents/{intent_id}",
            headers={"authorization": "Bearer sk_test_the_platforms_own_account"},
        )
        assert other.status_code == 404, other.text


async def _only_the_gateway_gets_in(platform: Platform, namespace: str) -> None:
    """The shop's NetworkPolicy: the gateway reaches a service's sidecar; another pod of the
    platform's namespace (the Stripe emulator) is refused; no pod reaches the app's port."""
    node = platform.simulated.node
    target = f"catalog-dapr.{namespace}.svc.cluster.local"
    probe = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(({target!r}, int(sys.argv[1])), timeout=3).close()\n"
        "    print('open')\n"
        "except OSError as exc:\n"
        "    print('refused', exc)\n"
    )

    async def reach(component: str, container: str, port: int) -> str:
        pods = await platform.kube.list("v1", "pods", namespace=NAMESPACE, label_selector=component)
        assert pods, component
        run = node.container(NAMESPACE, pods[0]["metadata"]["name"], container)
        assert run is not None, (component, container)
        _, output = await node.exec_in(run, ["python", "-c", probe, str(port)], 15)
        return output.strip()

    gateway = "app.kubernetes.io/component=gateway"
    emulator = "app.kubernetes.io/name=stripe-emulator"
    assert (await reach(gateway, "gateway", 50002)).startswith("open")
    assert (await reach(emulator, "stripe-emulator", 50002)).startswith("refused")


async def _absent(platform: Platform, api_version: str, plural: str, name: str) -> bool:
    return await platform.kube.get(api_version, plural, name) is None


async def _answers(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status
