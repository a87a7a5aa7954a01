"""Deploying shopfleet on a cluster as a platform team does: the chart rendered by Helm's own
engine (the Helm SDK) and applied through the API, on the simulated cluster with this run's
own PostgreSQL role and databases and RabbitMQ vhost (the cluster tier and the cluster
benchmark use it)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import accounts
from tests.support.cluster.client import ApiError, KubeClient

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "shopfleet"
NAMESPACE = os.environ.get("SHOPFLEET_TEST_NAMESPACE", "shopfleet")
RELEASE = os.environ.get("SHOPFLEET_TEST_RELEASE", "shopfleet")
PLATFORM_HOST = "platform.shopfleet.test"
SHOPS_DOMAIN = "shops.localtest.me"  # the example shops' hosts (tests/cluster/conftest.py)
SHOPS_TLS_SECRET = "shops-tls"
STRIPE_PORT = 8420
SIMULATED: list[Any] = []  # the running simulated cluster, for failure reports


@dataclass
class Platform:
    """The deployed platform, as the tests see it."""

    kube: KubeClient
    entry: str  # where HTTP goes in: the ingress (or a port-forward on a real cluster)
    # Where HTTPS goes in, and the CA that signed the shops' certificate (simulated only).
    tls_entry: str = ""
    tls_ca: Path | None = None
    namespace: str = NAMESPACE
    describe: Callable[[], Awaitable[str]] | None = None
    simulated: Any = None
    notes: list[str] = field(default_factory=list)
    # The services' databases are `<prefix><service>` on this machine's PostgreSQL (the
    # simulated cluster's; None on a real cluster, whose databases the tests cannot reach).
    database_prefix: str | None = None

    def client(self, host: str = PLATFORM_HOST, **kw: Any) -> httpx.AsyncClient:
        """An HTTP client of the platform, addressed by `host` (a shop's host or the
        platform's), as a shopper's browser would."""
        return httpx.AsyncClient(base_url=self.entry, headers={"host": host}, timeout=60, **kw)

    async def report(self) -> str:
        return await self.describe() if self.describe else ""


async def wait_until(
    probe: Callable[[], Awaitable[Any]],
    what: str,
    *,
    within_s: float = 180.0,
    platform: Platform | None = None,
    interval_s: float = 0.5,
) -> Any:
    """Poll `probe` until it returns something truthy; on time-out, raise TimeoutError with
    what was last seen and (given the platform) every pod that is not Ready, with its logs."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except (httpx.HTTPError, ApiError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(interval_s)
    report = await platform.report() if platform else ""
    raise TimeoutError(f"{what}: not within {within_s:.0f} s (last seen: {last!r})\n{report}")


# ---- the chart ------------------------------------------------------------------------------


def render_chart(values: dict[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE):
    """(CRDs, objects) of the chart, rendered by Helm's own engine for an install."""
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name=release, namespace=namespace, is_install=True)
        crds = [doc for crd in chart.crds for doc in yaml.safe_load_all(_crd_text(crd)) if doc]
    objects = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return crds, objects


def _crd_text(crd: Any) -> str:
    if isinstance(crd, dict):
        return crd.get("data") or crd.get("content") or yaml.safe_dump(crd)
    return getattr(crd, "data", None) or str(crd)


# Applied first: what other objects need to exist (namespaces, accounts, RBAC, config).
KIND_ORDER = [
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
    "Configuration",
    "Component",
    "Resiliency",
    "Subscription",
    "Service",
    "PodDisruptionBudget",
    "Deployment",
    "Ingress",
]


async def apply_all(kube: KubeClient, objects: list[dict[str, Any]], namespace: str) -> None:
    def rank(obj: dict[str, Any]) -> int:
        kind = obj["kind"]
        return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)

    for obj in sorted(objects, key=rank):
        meta = obj.setdefault("metadata", {})
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            meta.setdefault("namespace", namespace)
        await kube.apply(obj)


async def deployments_available(kube: KubeClient, namespace: str) -> list[str]:
    """The names of the Deployments of `namespace` that are not yet Available."""
    waiting = []
    for deployment in await kube.list("apps/v1", "deployments", namespace=namespace):
        status = deployment.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        wanted = (deployment.get("spec") or {}).get("replicas", 1)
        if conditions.get("Available") != "True" or status.get("readyReplicas", 0) < wanted:
            waiting.append(deployment["metadata"]["name"])
    return waiting


# ---- the simulated cluster's backing services -------------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip() or done.stdout}")


@dataclass
class Backing:
    """A PostgreSQL role and database prefix, and a RabbitMQ vhost and user, of this run."""

    run: str
    password: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def role(self) -> str:
        return f"sf_{self.run}"

    @property
    def prefix(self) -> str:
        return f"sf_{self.run}_"

    @property
    def vhost(self) -> str:
        return f"sf-{self.run}"

    @property
    def admin(self) -> str:
        """The operator's admin on both stores: makes dedicated shops' accounts."""
        return f"sf_{self.run}_operator"

    def create(self) -> None:
        accounts.psql(f"CREATE ROLE {self.role} LOGIN CREATEDB PASSWORD '{self.password}'")
        # The state.postgresql store's database (the services' own are made by migrate).
        accounts.psql(f"CREATE DATABASE {self.prefix}state OWNER {self.role}")
        admin = f"CREATE ROLE {self.admin} LOGIN CREATEROLE CREATEDB PASSWORD '{self.password}'"
        accounts.psql(admin)
        _rabbitmqctl("add_vhost", self.vhost)
        _rabbitmqctl("add_user", self.role, self.password)
        _rabbitmqctl("set_permissions", "-p", self.vhost, self.role, ".*", ".*", ".*")
        _rabbitmqctl("add_user", self.admin, self.password)
        _rabbitmqctl("set_user_tags", self.admin, "administrator")

    def drop(self) -> None:
        """Everything of this run: its own names, and the shops' accounts (`sf_<run>_*`)."""
        for prefix in (f"sf_{self.run}", self.vhost):
            with contextlib.suppress(BaseException):
                accounts.drop_prefixed(prefix)

    def operator_secret(self) -> dict[str, Any]:
        """The Secret the chart reads with `operator.adminSecret`."""
        data = {
            "postgres-user": self.admin,
            "postgres-password": self.password,
            "rabbitmq-user": self.admin,
            "rabbitmq-password": self.password,
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sim-operator-admin"},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }

    def connections_secret(self, host: str) -> dict[str, Any]:
        """The Secret the chart reads with `connections.existingSecret`."""
        data = {
            "postgres-password": self.password,
            "redis-password": "",
            "rabbitmq-password": self.password,
            "rabbitmq-url": f"amqp://{self.role}:{self.password}@{host}:5672/{self.vhost}",
            "postgres-state-dsn": f"host={host} user={self.role} password={self.password} "
            f"dbname={self.prefix}state port=5432",
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sim-connections"},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }


def simulated_values(backing: Backing, host: str, key_prefix: str = "") -> dict[str, Any]:
    """Values for this machine: its data stores, one gateway, shops over http.
    `key_prefix`: what the sidecar doubles put before every Redis key (their run's)."""
    stripe = f"http://stripe-emulator.{NAMESPACE}.svc.cluster.local:{STRIPE_PORT}"
    gateway = f"http://{RELEASE}-gateway.{NAMESPACE}.svc.cluster.local"
    return {
        "image": {"repository": "shopfleet", "tag": "sim", "pullPolicy": "Never"},
        "connections": {"existingSecret": "sim-connections"},
        "postgres": {"host": host, "user": backing.role, "databasePrefix": backing.prefix},
        "redis": {"host": f"{host}:6379", "auth": False},
        "rabbitmq": {
            "host": host,
            "user": backing.role,
            "vhost": backing.vhost,
            "managementUrl": f"http://{host}:15672",
        },
        "gateway": {"replicas": 1},
        "platform": {
            "publicUrl": f"http://{PLATFORM_HOST}",
            "logFormat": "console",
            # Every shop's payments (the pooled service and each dedicated shop's own) use
            # the emulator: shops without keys as the platform's account, shops with keys
            # as their own account (the emulator keeps one per secret key, as Stripe does).
            "env": {
                "SHOPFLEET_PAYMENTS_STRIPE_EMULATOR_URL": stripe,
                "SHOPFLEET_PAYMENTS_STRIPE_API_BASE": stripe,
                "SHOPFLEET_PAYMENTS_WEBHOOK_BASE_URL": gateway,
            },
        },
        # TLS on every shop's Ingress with one wildcard certificate (shops_tls_secret).
        "operator": {
            "tls": {"secretName": SHOPS_TLS_SECRET},
            "timerIntervalSeconds": 5,
            "adminSecret": "sim-operator-admin",
            "redisAclKeyPrefix": key_prefix,
            # A killed leader's standby takes over after 10 s (the chart's default: 30 s).
            "peeringLifetimeSeconds": 10,
        },
        "ingress": {"enabled": True, "hosts": [PLATFORM_HOST]},
    }


def shops_tls_secret(directory: Path) -> tuple[dict[str, Any], Path]:
    """A `kubernetes.io/tls` Secret for every host of `*.shops.localtest.me` (the example
    shops' hosts), and the CA that signed it (for the shoppers' clients to trust)."""
    from tests.support.cluster.apiserver import _certificates

    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _certificates(directory, [], [f"*.{SHOPS_DOMAIN}"])
    data = {"tls.crt": cert.read_bytes(), "tls.key": key.read_bytes()}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SHOPS_TLS_SECRET},
        "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    return secret, ca


def stripe_emulator_objects() -> list[dict[str, Any]]:
    """The Stripe emulator as a Deployment and Service of the platform's namespace (offline
    Stripe for every shop without keys of its own): the project image, another command."""
    labels = {"app.kubernetes.io/name": "stripe-emulator"}
    container = {
        "name": "stripe-emulator",
        "image": "shopfleet:sim",
        "command": [
            "python",
            "-m",
            "shopfleet.payments.emulator_main",
            "--host",
            "0.0.0.0",
            "--port",
            str(STRIPE_PORT),
            "--webhook-delay",
            "0.05",
        ],
        "ports": [{"name": "http", "containerPort": STRIPE_PORT}],
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
        },
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "stripe-emulator", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "stripe-emulator", "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": STRIPE_PORT, "targetPort": "http"}],
            },
        },
    ]


@contextlib.asynccontextmanager
async def simulated_platform(workdir: Path) -> AsyncIterator[Platform]:
    from tests.support.cluster.cluster import SimulatedCluster

    backing = Backing(uuid.uuid4().hex[:8])
    backing.create()
    try:
        async with SimulatedCluster(workdir) as cluster:
            SIMULATED[:] = [cluster]
            host = cluster.host_address
            kube = cluster.kube
            tls_secret, tls_ca = shops_tls_secret(workdir / "shops-tls")
            platform = Platform(
                kube=kube,
                entry=cluster.ingress.url,
                tls_entry=cluster.ingress.tls_url,
                tls_ca=tls_ca,
                describe=lambda: asyncio.sleep(0, cluster.node.describe_failures()),
                simulated=cluster,
                database_prefix=backing.prefix,
            )
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
            )
            crds, objects = render_chart(
                simulated_values(backing, host, cluster.node.dapr_options.get("prefix", ""))
            )
            for crd in crds:
                await kube.apply(crd)
            ours = [
                backing.connections_secret(host),
                backing.operator_secret(),
                tls_secret,
                *stripe_emulator_objects(),
            ]
            await apply_all(kube, [*ours, *objects], NAMESPACE)
            await wait_until(
                lambda: platform_available(kube),
                "every Deployment of the platform Available",
                within_s=300,
                platform=platform,
            )
            yield platform
    finally:
        backing.drop()


async def platform_available(kube: KubeClient) -> bool:
    return not await deployments_available(kube, NAMESPACE)
