"""The operator, run for real by kopf's KopfRunner (in a thread), against an emulated API.

The operator authenticates with the token of the chart's operator ServiceAccount, and the
API server evaluates the chart's own RBAC (its ClusterRole, Role and bindings, rendered
with Helm's SDK and applied here): a request the chart does not allow is a 403, as on a
real cluster, and fails the test that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
import uvicorn
import yaml
from kopf.testing import KopfRunner

from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.platform import EmbeddedPlatform
from shopfleet_operator.crd import crd_manifest
from tests.support import accounts
from tests.support.cluster.apiserver import ApiServer
from tests.support.cluster.rbac import User
from tests.support.platform import PLATFORM_TOKEN, make_platform
from tests.support.server import free_port

PLATFORM_NS = "shopfleet"
ROOT = Path(__file__).resolve().parents[2]
PEERING_CRDS = ROOT / "charts" / "shopfleet" / "crds" / "kopf-peering.yaml"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
# Read when kopf imports the operator's main module: drift checks every second here.
os.environ.setdefault("SHOPFLEET_OPERATOR_TIMER_INTERVAL", "1")


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        for ns in ("default", PLATFORM_NS, "kube-system"):
            await server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await server.apply(crd_manifest())
        for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
            await server.apply(crd)
        for obj in [*chart_rbac(), chart_peering()]:
            await server.apply(obj)
        yield server


@functools.cache
def chart_objects() -> tuple[dict, ...]:
    """The chart with its default values, installed as release `shopfleet` in the platform
    namespace (as skaffold.yaml does), rendered by Helm's SDK."""
    import helm_python as helm  # the test extra's helm-python-sdk

    with helm.Chart.load(str(ROOT / "charts" / "shopfleet")) as chart:
        files = chart.render({}, name="shopfleet", namespace=PLATFORM_NS, is_install=True)
    return tuple(
        doc
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    )


def chart_rbac() -> list[dict]:
    """The chart's ServiceAccounts, (Cluster)Roles and (Cluster)RoleBindings."""
    return [obj for obj in chart_objects() if obj["kind"] in RBAC_KINDS]


def chart_peering() -> dict:
    """The ClusterKopfPeering the chart's operator replicas elect their leader in."""
    (peering,) = [obj for obj in chart_objects() if obj["kind"] == "ClusterKopfPeering"]
    return peering


def operator_account() -> str:
    """The ServiceAccount the chart's operator Deployment runs as."""
    (deployment,) = [
        obj
        for obj in chart_objects()
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-operator")
    ]
    return deployment["spec"]["template"]["spec"]["serviceAccountName"]


def chart_operator_env() -> dict[str, str]:
    """The plain values of the chart's operator container's environment."""
    (deployment,) = [
        obj
        for obj in chart_objects()
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-operator")
    ]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e}


def kubeconfig_for(api: ApiServer, path: Path, token: str | None = None) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "emulated",
                "clusters": [{"name": "emulated", "cluster": {"server": str(api.url).rstrip("/")}}],
                "users": [{"name": "operator", "user": {"token": token or api.admin_token}}],
                "contexts": [
                    {"name": "emulated", "context": {"cluster": "emulated", "user": "operator"}}
                ],
            }
        )
    )
    return path


class Operator:
    """Starts and stops the operator; each start is a fresh process-like run."""

    def __init__(self, api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.api = api
        self.monkeypatch = monkeypatch
        self.runner: KopfRunner | None = None
        account = operator_account()
        self.user = User.service_account(PLATFORM_NS, account).name
        token = api.issue_token(PLATFORM_NS, account)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig_for(api, tmp_path / "kubeconfig", token)))
        monkeypatch.setenv("SHOPFLEET_OPERATOR_NAMESPACE", PLATFORM_NS)
        monkeypatch.setenv("SHOPFLEET_OPERATOR_RETRY_DELAY", "0.3")
        self.metrics_port = free_port()  # its /metrics (the chart's http.metricsPort)
        monkeypatch.setenv("SHOPFLEET_OPERATOR_METRICS_PORT", str(self.metrics_port))
        monkeypatch.setenv("SHOPFLEET_OPERATOR_IMAGE", "registry.example.com/shopfleet:test")
        monkeypatch.delenv("SHOPFLEET_PLATFORM_URL", raising=False)
        monkeypatch.delenv("SHOPFLEET_PLATFORM_TOKEN", raising=False)
        # Dedicated shops' own accounts on this machine's PostgreSQL and RabbitMQ, named with
        # this test's prefix (dropped afterwards: `drop_prefixed`).
        self.prefix = f"sfop_{uuid.uuid4().hex[:8]}_"
        for name, value in accounts.operator_env(self.prefix).items():
            monkeypatch.setenv(name, value)
        # The chart's Dapr definitions, as its operator Deployment passes them.
        for name, value in chart_operator_env().items():
            if name.startswith("SHOPFLEET_OPERATOR_DAPR_"):
                monkeypatch.setenv(name, value)

    def use_platform(self, url: str, token: str) -> None:
        self.monkeypatch.setenv("SHOPFLEET_PLATFORM_URL", url)
        self.monkeypatch.setenv("SHOPFLEET_PLATFORM_TOKEN", token)

    async def start(self) -> None:
        peering = chart_peering()["metadata"]["name"]
        args = ["run", "-m", "shopfleet_operator.main", f"--peering={peering}", "--all-namespaces"]
        self.runner = KopfRunner(args, timeout=30)
        await asyncio.to_thread(self.runner.__enter__)

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await asyncio.to_thread(runner.__exit__, None, None, None)
            assert runner.exception is None, runner.output
            denied = [str(a) for a in self.api.denied(self.user)]
            assert denied == [], "the chart's RBAC refused the operator: " + "; ".join(
                sorted(set(denied))
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Operator]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()


@pytest.fixture
async def operator(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Operator]:
    op = Operator(api, tmp_path, monkeypatch)
    try:
        yield op
        await op.stop()
    finally:
        await asyncio.to_thread(accounts.drop_prefixed, op.prefix)


def writes(api: ApiServer, since: int = 0) -> list[str]:
    """The writes since request number `since`, but for kopf's keep-alives in the peering
    object (a replica's presence, not a change to anything it manages)."""
    return [w for w in api.writes(since) if "/apis/kopf.dev/" not in w]


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> Any:
    """Poll until `check` returns something truthy (the operator works in its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        await asyncio.sleep(0.05)


def _pooled_services_stand_in(embedded: EmbeddedPlatform) -> None:
    """The embedded platform runs one app per service; here they stand in for every
    dedicated shop's own (`identity.shop-big`: the cluster tier runs those for real). A call
    the gateway routes to a dedicated shop's app goes to the pooled one, with the platform's
    credential in place of the shop's derived one, which only a dedicated app would hold.
    The gateway still routes by the table it has loaded, so the operator's bootstrap meets
    `route-not-loaded` until the route is projected, as on a cluster."""
    assert embedded.blocks is not None, "the platform has not started"
    invoker = embedded.blocks.invoker
    assert isinstance(invoker, LocalInvoker)
    platform_credential = f"Bearer {PLATFORM_TOKEN}".encode()
    invoke = invoker.invoke

    async def pooled(app_id: str, method: str, path: str, **call: Any) -> Any:
        service, dedicated, _ = app_id.partition(".")
        if dedicated and service in invoker.app_ids:
            headers = [(k, v) for k, v in call.pop("headers", ()) if k != b"authorization"]
            call["headers"] = [*headers, (b"authorization", platform_credential)]
            app_id = service
        return await invoke(app_id, method, path, **call)

    invoker.invoke = pooled  # the double swaps the method on this one instance


class RouteProjection:
    """Plays the kubelet for the embedded platform's gateway: the route ConfigMap projected
    into its routes file, as a mounted ConfigMap is; `paused` holds it back (a slow sync)."""

    def __init__(self, api: ApiServer, path: Path) -> None:
        self.api = api
        self.path = path
        self.paused = False

    async def run(self) -> None:
        written = None
        while True:
            data = self._routes()
            if data is not None and data != written and not self.paused:
                self._write(data)
                written = data
            await asyncio.sleep(0.05)

    def sync(self) -> None:
        """Project the route ConfigMap now (a test choosing the kubelet's moment); it must
        exist."""
        data = self._routes()
        assert data is not None, "no route ConfigMap to project"
        self._write(data)

    def _routes(self) -> str | None:
        cm = self.api.obj("v1/configmaps", PLATFORM_NS, "shopfleet-routes")
        return ((cm or {}).get("data") or {}).get("routes.json")

    def _write(self, data: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(self.path)


def gateway_endpoints(port: int) -> dict:
    """The Endpoints of the gateway Service (the operator asks each replica what it serves):
    here the embedded platform, the one replica."""
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "gateway", "namespace": PLATFORM_NS},
        "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}
        ],
    }


@pytest.fixture
async def routes_projection(api: ApiServer, tmp_path: Path) -> RouteProjection:
    return RouteProjection(api, tmp_path / "routes.json")  # the platform's, once it runs


@contextlib.asynccontextmanager
async def serving_platform(
    api: ApiServer,
    projection: RouteProjection,
    data_dir: Path,
    wrap: Callable[[Any], Any] = lambda app: app,
) -> AsyncIterator[tuple[EmbeddedPlatform, str]]:
    """The embedded platform, served by uvicorn on a loopback port, as the gateway Service's
    one replica, with its route table following the route ConfigMap; `wrap` goes around its
    app (a test's injected faults)."""
    embedded = make_platform(data_dir)
    port = free_port()
    projection.path = embedded.routes.path
    await api.apply(gateway_endpoints(port))
    follow = asyncio.create_task(projection.run())
    server = uvicorn.Server(
        uvicorn.Config(
            wrap(embedded),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=180)
    assert server.started, "the platform did not start"
    _pooled_services_stand_in(embedded)
    try:
        yield embedded, f"http://127.0.0.1:{port}"
    finally:
        follow.cancel()
        server.should_exit = True
        await task


@pytest.fixture
async def platform_server(
    tmp_path: Path, api: ApiServer, routes_projection: RouteProjection
) -> AsyncIterator[tuple[EmbeddedPlatform, str]]:
    async with serving_platform(api, routes_projection, tmp_path / "platform") as served:
        yield served


@pytest.fixture
def platform_token() -> str:
    return PLATFORM_TOKEN
