"""The cluster tier: the chart and the operator, run as a platform team runs them.

Where it runs:

- by default on the **simulated cluster** (tests/support/cluster, README there): the API
  server, controllers, a node running every pod as our own processes in their own
  namespaces, Dapr sidecar doubles injected from the Components, an ingress by host. The
  chart is pointed at this machine's PostgreSQL, Redis and RabbitMQ, with a role,
  databases and a vhost of this run's own;
- on a **real cluster** when `SHOPFLEET_TEST_KUBECONFIG` names a kubeconfig (kind with Dapr:
  see README.md here). `SHOPFLEET_TEST_IMAGE` then installs the chart with that image first.

Either way the chart is rendered with the Helm SDK (Helm's Go engine) and its objects are
applied through the API; shops are applied from `examples/`, and shoppers reach them
through an ingress, by the shop's host.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster.client import ApiError, KubeClient
from tests.support.cluster.deploy import (
    NAMESPACE,
    PLATFORM_HOST,
    RELEASE,
    ROOT,
    SIMULATED,
    Platform,
    apply_all,
    platform_available,
    render_chart,
    simulated_platform,
    wait_until,
)

KUBECONFIG = os.environ.get("SHOPFLEET_TEST_KUBECONFIG")
IMAGE = os.environ.get("SHOPFLEET_TEST_IMAGE")


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    what: str,
    *,
    within_s: float = 180.0,
    platform: Platform | None = None,
) -> Any:
    """Poll `probe` until it returns something truthy; on time-out the test fails with what
    was last seen and (given the platform) every pod that is not Ready, with its logs."""
    try:
        return await wait_until(probe, what, within_s=within_s, platform=platform)
    except TimeoutError as exc:
        pytest.fail(str(exc))


# ---- a real cluster ----------------------------------------------------------------------------


def kubeconfig_client(path: str) -> KubeClient:
    """A client for the kubeconfig's current context: a bearer token or a client
    certificate (kind's default), and the cluster's CA, as files or inline data."""
    config = yaml.safe_load(Path(path).read_text())
    context = next(
        c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
    )
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])

    def file_of(entry: dict[str, Any], key: str, suffix: str) -> str | None:
        if entry.get(f"{key}-data"):
            target = Path(path).with_suffix(suffix)
            target.write_bytes(base64.b64decode(entry[f"{key}-data"]))
            target.chmod(0o600)
            return str(target)
        return entry.get(key)

    ca = file_of(cluster, "certificate-authority", ".ca.crt")
    cert = file_of(user, "client-certificate", ".client.crt")
    key = file_of(user, "client-key", ".client.key")
    if not user.get("token") and not (cert and key):
        pytest.fail(
            "the kubeconfig's user has neither a token nor a client certificate: the cluster "
            "tier signs in with one of them (exec plugins are not supported)"
        )
    return KubeClient(
        cluster["server"],
        token=user.get("token"),
        ca_path=ca,
        client_cert=(cert, key) if cert and key else None,
    )


@contextlib.asynccontextmanager
async def real_platform() -> AsyncIterator[Platform]:
    assert KUBECONFIG
    async with kubeconfig_client(KUBECONFIG) as kube:
        if IMAGE:
            name, _, tag = IMAGE.rpartition(":")
            crds, objects = render_chart(
                {
                    "image": {"repository": name or IMAGE, "tag": tag or "latest"},
                    "backing": {"enabled": True},
                    "redis": {"auth": False},
                    "gateway": {"replicas": 1},
                    "operator": {"publicScheme": "http"},
                    "ingress": {"enabled": True, "hosts": [PLATFORM_HOST]},
                }
            )
            for crd in crds:
                await kube.apply(crd)
            await apply_all(kube, objects, NAMESPACE)
        platform = Platform(kube=kube, entry="")
        await eventually(lambda: platform_available(kube), "the platform Available", within_s=900)
        with port_forward(f"{RELEASE}-gateway", 80) as entry:
            platform.entry = entry
            yield platform


@contextlib.contextmanager
def port_forward(service: str, port: int) -> Any:
    """`kubectl port-forward` to a Service (a real cluster only); yields the local URL."""
    process = subprocess.Popen(
        [
            "kubectl",
            "--kubeconfig",
            str(KUBECONFIG),
            "-n",
            NAMESPACE,
            "port-forward",
            f"svc/{service}",
            f":{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            pytest.fail(f"port-forward to {service} did not start: {line}")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    if KUBECONFIG:
        async with real_platform() as deployed:
            yield deployed
    else:
        if os.geteuid() != 0:
            pytest.fail(
                "the simulated cluster needs root (network and mount namespaces): run the "
                "tests as root, or set SHOPFLEET_TEST_KUBECONFIG to use a real cluster"
            )
        async with simulated_platform(tmp_path_factory.mktemp("cluster")) as simulated:
            yield simulated


@pytest.fixture
async def slug(platform: Platform) -> AsyncIterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    yield name
    # Deleted, and gone (the operator's finalizer done), before the next test watches what
    # the operator does.
    with contextlib.suppress(ApiError):
        await platform.kube.delete("shopfleet.io/v1alpha1", "shops", name, namespace=NAMESPACE)

    async def gone() -> bool:
        shops = ("shopfleet.io/v1alpha1", "shops")
        return await platform.kube.get(*shops, name, namespace=NAMESPACE) is None

    await eventually(gone, f"shop {name} deleted", within_s=180, platform=platform)


def example(name: str, *, slug: str) -> list[dict[str, Any]]:
    """examples/<name> with the Shop (and its Secrets) renamed to `slug` and hosts of its
    own, so that a test never touches a shop someone made by hand."""
    documents = [d for d in yaml.safe_load_all((ROOT / "examples" / name).read_text()) if d]
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    old = shop["metadata"]["name"]
    renamed = yaml.safe_dump_all(documents).replace(f"{old}-", f"{slug}-")
    renamed = re.sub(rf"\bname: {old}\b", f"name: {slug}", renamed)
    documents = [d for d in yaml.safe_load_all(renamed) if d]
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    hosts = shop["spec"].get("hosts") or []
    shop["spec"]["hosts"] = [f"{slug}-{i}.shops.localtest.me" for i in range(len(hosts))]
    return documents


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed cluster test shows the pods that are not Ready, with their logs."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and SIMULATED:
        report.sections.append(("simulated cluster", SIMULATED[0].node.describe_failures()))
