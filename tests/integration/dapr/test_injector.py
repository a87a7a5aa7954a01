"""The Dapr injector of the simulated cluster, and the sidecars it makes, run as processes on
the machine's Redis and RabbitMQ: configured only from the Dapr resources of the pod's
namespace scoped to its app-id, loading each component as daprd does (issue 13 §4, and
defects 5 and 6).

The Kubernetes API is a small in-memory fake (kube_fake.py) and the node is emulated by
injected.py, so that each sidecar is judged alone; tests/cluster runs the same injector
through the simulated API server and node for every pod of the platform.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import redis
import yaml

from shopfleet.devtools.sidecar_double.broker import delete_broker_objects
from shopfleet_operator.build.accounts import TenantAccount, redis_acl_rules
from shopfleet_operator.build.children import children
from shopfleet_operator.build.secrets import SECRET_STRIPE_KEY
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from tests.conftest import RUN_ID
from tests.integration.dapr.injected import kubelet_mounts_token, pod_of, run_sidecar, stop
from tests.integration.dapr.kube_fake import FakeKube
from tests.operator.conftest import chart_operator_env
from tests.operator.shops import shop as shop_manifest
from tests.support import accounts
from tests.support.cluster.dapr import inject
from tests.support.sidecar_double import AMQP_URL, require_backends

ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ROOT / "components"
PLATFORM_NS = "shopfleet"
CONNECTIONS = "shopfleet-connections"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, namespace: str, **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k.replace("_", "-"): _b64(v) for k, v in data.items()},
    }


def platform_objects(redis_host: str, redis_password: str) -> list[dict]:
    """components/ as the chart applies them to the platform namespace (Redis state store),
    and the chart's connections Secret."""
    objects = []
    for path in sorted(COMPONENTS.glob("*.yaml")):
        if path.name == "statestore-postgresql.yaml":
            continue
        doc = yaml.safe_load(path.read_text())
        doc["metadata"]["namespace"] = PLATFORM_NS
        for item in (doc.get("spec") or {}).get("metadata") or []:
            if item["name"] == "redisHost":
                item["value"] = redis_host
        objects.append(doc)
    objects.append(
        secret(
            CONNECTIONS,
            PLATFORM_NS,
            redis_password=redis_password,
            rabbitmq_url=AMQP_URL,
            postgres_state_dsn="host=127.0.0.1 user=postgres",
        )
    )
    return objects


def pooled_pod(app_id: str) -> dict:
    """A pod of the chart's pooled services (services.yaml), as far as Dapr reads it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app_id}-{uuid.uuid4().hex[:5]}",
            "namespace": PLATFORM_NS,
            "labels": {
                "app.kubernetes.io/name": "shopfleet",
                "app.kubernetes.io/component": app_id,
            },
            "annotations": {
                "dapr.io/enabled": "true",
                "dapr.io/app-id": app_id,
                "dapr.io/app-port": "8000",
                "dapr.io/config": "shopfleet",
            },
        },
        "spec": {"containers": [{"name": app_id, "image": "shopfleet"}]},
    }


def make_shop(name: str, **spec: object) -> Shop:
    return Shop.model_validate(shop_manifest(name, **spec))


@pytest.fixture
def prefix() -> str:
    return f"sftest-{RUN_ID}-{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def cleanup_broker(prefix: str) -> AsyncIterator[None]:
    yield
    exchanges = {f"{prefix}pubsub"}
    await delete_broker_objects(AMQP_URL, set(), exchanges)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AuthRedis:
    """A Redis of our own that asks for a password, as the chart's does by default."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.password = f"pw-{uuid.uuid4().hex[:12]}"
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                self.password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait(self) -> None:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            import time

            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")


@pytest.fixture
def auth_redis(tmp_path: Path) -> Iterator[AuthRedis]:
    if not any(
        os.access(os.path.join(d, "redis-server"), os.X_OK)
        for d in os.environ.get("PATH", "").split(":")
    ):
        pytest.skip("needs redis-server (Debian package redis-server)")
    redis = AuthRedis(tmp_path)
    try:
        redis.wait()
        yield redis
    finally:
        redis.proc.terminate()
        redis.proc.wait(10)


@pytest.fixture(autouse=True)
def _backends() -> None:
    require_backends()


# ----------------------------------------------------------------------------- injector


async def test_the_sidecar_gets_only_what_its_namespace_scopes_to_its_app_id() -> None:
    kube = FakeKube(platform_objects("redis:6379", "pw"))
    other_ns = copy.deepcopy(next(iter(kube.objects.values())))
    other_ns["metadata"]["namespace"] = "elsewhere"
    other_ns["metadata"]["name"] = "foreign"
    kube.put(other_ns)
    kube.put(secret("cart-token", PLATFORM_NS, token="t0k"))
    pod = pooled_pod("cart")
    pod["metadata"]["annotations"].update(
        {
            "dapr.io/app-token-secret": "cart-token",
            "dapr.io/sidecar-cpu-request": "50m",
            "dapr.io/sidecar-memory-limit": "128Mi",
            "dapr.io/log-level": "debug",
            "dapr.io/block-shutdown-duration": "25s",
            "dapr.io/disable-builtin-k8s-secret-store": "true",
        }
    )
    [container] = await inject(pod, kube)
    files = container["files"]
    names = sorted(Path(p).name for p in files if p.startswith("/etc/dapr/resources/"))
    # cart uses the state store and the pub/sub, not the secret store (identity, payments)
    assert names == [
        "components-pubsub.yaml",
        "components-statestore.yaml",
        "configuration-shopfleet.yaml",
        "resiliencies-shopfleet.yaml",
    ]
    state = yaml.safe_load(files["/etc/dapr/resources/components-statestore.yaml"])
    password = next(i for i in state["spec"]["metadata"] if i["name"] == "redisPassword")
    assert password == {"name": "redisPassword", "value": "pw"}  # as Dapr's operator does
    args = container["args"]
    assert args[args.index("--app-id") + 1] == "cart"
    assert args[args.index("--namespace") + 1] == PLATFORM_NS
    assert args[args.index("--config") + 1] == "/etc/dapr/resources/configuration-shopfleet.yaml"
    assert args[args.index("--log-level") + 1] == "DEBUG"
    assert args[args.index("--dapr-block-shutdown-duration") + 1] == "25s"
    assert "--disable-builtin-k8s-secret-store" in args
    env = {e["name"]: e for e in container["env"]}
    assert env["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "cart-token",
        "key": "token",
    }
    assert env["NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert container["resources"] == {"requests": {"cpu": "50m"}, "limits": {"memory": "128Mi"}}
    service = await kube.get("v1", "services", "cart-dapr", namespace=PLATFORM_NS)
    assert service is not None
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "dapr-http": 80,
        "dapr-grpc": 50001,
        "dapr-internal": 50002,
        "dapr-metrics": 9090,
    }
    assert await inject({"metadata": {"name": "x", "annotations": {}}}, kube) == []


async def test_an_unknown_metadata_key_is_a_warning_in_the_sidecars_log(
    tmp_path: Path, prefix: str, cleanup_broker: None
) -> None:
    objects = platform_objects("127.0.0.1:6379", "")
    for obj in objects:
        if obj["kind"] == "Component" and obj["metadata"]["name"] == "pubsub":
            obj["spec"]["metadata"].append({"name": "reconectWaitSeconds", "value": "5"})
        if obj["kind"] == "Component" and obj["metadata"]["name"] == "statestore":
            obj["spec"]["metadata"] = [
                i for i in obj["spec"]["metadata"] if i["name"] != "redisPassword"
            ]
    kube = FakeKube(objects)
    [container] = await inject(pooled_pod("orders"), kube)
    run = await run_sidecar(container, tmp_path / "orders", token=True, prefix=prefix)
    log = await stop(run)
    assert run.ready, run.describe()
    assert 'unknown metadata key "reconectWaitSeconds" in component pubsub (pubsub.rabbitmq)' in log


async def test_a_component_that_cannot_load_stops_the_sidecar_unless_ignore_errors(
    tmp_path: Path, prefix: str, cleanup_broker: None
) -> None:
    objects = platform_objects("127.0.0.1:1", "")  # nothing listens there
    kube = FakeKube(objects)
    [container] = await inject(pooled_pod("cart"), kube)
    run = await run_sidecar(container, tmp_path / "cart", token=True, prefix=prefix)
    await stop(run)
    assert run.ready is None and run.returncode == 1, run.describe()
    assert "process component statestore error" in run.stderr
    for obj in objects:
        if obj["kind"] == "Component" and obj["metadata"]["name"] == "statestore":
            obj["spec"]["ignoreErrors"] = True
    [container] = await inject(pooled_pod("cart"), FakeKube(objects))
    run = await run_sidecar(container, tmp_path / "cart2", token=True, prefix=prefix)
    log = await stop(run)
    assert run.ready, run.describe()
    assert "ignoreErrors: skipped" in log


async def test_without_the_pods_token_the_builtin_kubernetes_store_stops_the_sidecar(
    tmp_path: Path, prefix: str, cleanup_broker: None
) -> None:
    kube = FakeKube(platform_objects("127.0.0.1:6379", ""))
    [container] = await inject(pooled_pod("orders"), kube)
    run = await run_sidecar(container, tmp_path / "orders", token=False, prefix=prefix)
    await stop(run)
    assert run.returncode == 1, run.describe()
    assert "process component kubernetes error" in run.stderr
    assert "serviceaccount/token: no such file or directory" in run.stderr


# ----------------------------------------------------------------------------- defect 6


async def test_one_shops_state_component_cannot_stop_the_pooled_sidecars(
    tmp_path: Path, prefix: str, cleanup_broker: None, auth_redis: AuthRedis
) -> None:
    """Defect 6. The chart turns Redis auth on; a shared shop's state component must carry
    the password, be loaded only by services that use a state store, and a broken one must
    not stop the sidecars that load it (ignoreErrors)."""
    config = Config(redis_host=auth_redis.host, rabbitmq_url=AMQP_URL)
    kube = FakeKube(platform_objects(auth_redis.host, auth_redis.password))
    for obj in children(make_shop("acme"), config, {}, TenantAccount("tenant", "tenant-pw")):
        kube.put(obj)
    broken = replace(config, redis_host="127.0.0.1:1")  # a shop whose store is down
    for obj in children(make_shop("broken"), broken, {}, TenantAccount("tenant", "tenant-pw")):
        kube.put(obj)
    started = {}
    for app in ("catalog", "cart"):
        [container] = await inject(pooled_pod(app), kube)
        run = await run_sidecar(container, tmp_path / app, token=True, prefix=prefix)
        components = []
        if run.ready:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{run.http_port}/v1.0/metadata") as r,
            ):
                components = [c["name"] for c in (await r.json())["components"]]
        await stop(run)
        assert run.ready, f"{app}'s sidecar did not start ({run.describe()})"
        started[app] = components
    assert "shop-acme-state" not in started["catalog"]  # catalog has no state store
    assert "shop-acme-state" in started["cart"]  # with the password: it loads
    assert "shop-broken-state" not in started["cart"]  # skipped, not fatal


# ----------------------------------------------------------------------------- defect 5


@pytest.fixture
def tenant() -> Iterator[TenantAccount]:
    """A dedicated shop's own RabbitMQ vhost and user, as the operator makes them (and,
    dropped with them, the Redis user a test makes)."""
    account = TenantAccount(f"sfinj_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    accounts.create_vhost_user(account.name, account.password)
    yield account
    accounts.drop_prefixed(account.name)


@pytest.mark.parametrize("app", ["cart", "payments"])
async def test_a_dedicated_shops_sidecars_start(
    tmp_path: Path,
    prefix: str,
    cleanup_broker: None,
    app: str,
    tenant: TenantAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Defect 5. A dedicated shop's sidecars get a `secretstores.kubernetes` component and
    Dapr's built-in Kubernetes store, which read Secrets with the pod's ServiceAccount
    token: the pods must mount it. With the chart's Dapr definitions (its operator's env:
    sidecar annotations, Configuration, Resiliency), the injector and the sidecar warn of
    no unknown annotation or metadata key."""
    chart_dapr = {k: v for k, v in chart_operator_env().items() if "_DAPR_" in k}
    config = replace(
        Config.from_env(chart_dapr),
        redis_host="127.0.0.1:6379",
        rabbitmq_url=AMQP_URL,
        image="ghcr.io/shopfleet/shopfleet:test",
        redis_acl_key_prefix=prefix,  # the double's run prefix, before every key
    )
    shop = make_shop("acme", tier="dedicated")  # its state on Redis, as its own ACL user
    with redis.Redis.from_url(accounts.REDIS) as admin:
        rules = redis_acl_rules("acme", config, tenant.password)
        admin.execute_command("ACL", "SETUSER", tenant.name, *rules)
    objects = children(shop, config, {SECRET_STRIPE_KEY: "sk_test_x"}, tenant)
    assert {o["kind"] for o in objects} >= {"Resiliency", "Configuration", "Component"}
    kube = FakeKube(objects)
    [deployment] = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == app
    ]
    pod = pod_of(deployment)
    [container] = await inject(pod, kube)
    run = await run_sidecar(
        container, tmp_path / app, token=kubelet_mounts_token(pod), prefix=prefix
    )
    log = await stop(run)
    assert run.ready, f"{app}'s sidecar in shop-acme did not start ({run.describe()})"
    assert "unknown" not in log, log
    assert not [r for r in caplog.records if "unknown annotation" in r.getMessage()]


async def test_invocation_resolves_app_ids_by_kubernetes_dns(
    tmp_path: Path, prefix: str, cleanup_broker: None
) -> None:
    """`<app-id>` and `<app-id>.<ns>` go to `<app-id>-dapr.<ns>.svc.cluster.local:50002`:
    a name that does not resolve is ERR_DIRECT_INVOKE, as in Dapr."""
    kube = FakeKube(platform_objects("127.0.0.1:6379", ""))
    [container] = await inject(pooled_pod("orders"), kube)
    run = await run_sidecar(container, tmp_path / "orders", token=True, prefix=prefix)
    try:
        assert run.ready, run.describe()
        async with aiohttp.ClientSession() as http:
            for target in ("cart", "cart.shopfleet"):
                url = f"http://127.0.0.1:{run.http_port}/v1.0/invoke/{target}/method/x"
                async with http.get(url) as r:
                    assert r.status == 500
                    assert (await r.json())["errorCode"] == "ERR_DIRECT_INVOKE"
    finally:
        await stop(run)
    await asyncio.sleep(0)


async def test_a_dedicated_shops_state_store_authenticates_to_redis(
    tmp_path: Path,
    prefix: str,
    cleanup_broker: None,
    auth_redis: AuthRedis,
    tenant: TenantAccount,
) -> None:
    """Defect 6, dedicated tier: with the chart's Redis auth, the shop's own `statestore`
    logs in as the shop's own ACL user (the shop's Secret, keys `redis-username` and
    `redis-password`), made as the operator makes it; the platform's password is not
    in the namespace."""
    config = Config(
        redis_host=auth_redis.host,
        redis_password=auth_redis.password,
        rabbitmq_url=AMQP_URL,
        redis_acl_key_prefix=prefix,
    )
    admin = redis.Redis(host="127.0.0.1", port=auth_redis.port, password=auth_redis.password)
    with admin:
        admin.execute_command(
            "ACL", "SETUSER", tenant.name, *redis_acl_rules("acme", config, tenant.password)
        )
    objects = children(make_shop("acme", tier="dedicated"), config, {}, tenant)
    for secret in (o for o in objects if o["kind"] == "Secret"):
        assert auth_redis.password not in {
            base64.b64decode(v).decode() for v in secret["data"].values()
        }
    [deployment] = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "cart"
    ]
    pod = pod_of(deployment)
    [container] = await inject(pod, FakeKube(objects))
    run = await run_sidecar(
        container, tmp_path / "cart", token=kubelet_mounts_token(pod), prefix=prefix
    )
    await stop(run)
    assert run.ready, f"cart's sidecar in shop-acme did not start ({run.describe()})"
