"""The cluster tier: the chart and the operator on a real Kubernetes cluster with Dapr.

Configured by environment (nothing runs unless SHOPFLEET_TEST_KUBECONFIG is set):

- `SHOPFLEET_TEST_KUBECONFIG`: kubeconfig of the cluster (`kind get kubeconfig > /tmp/k.yaml`);
- `SHOPFLEET_TEST_NAMESPACE`: the platform's namespace (default `shopfleet`, as skaffold has it);
- `SHOPFLEET_TEST_RELEASE`: the chart's release name (default `shopfleet`);
- `SHOPFLEET_TEST_IMAGE`: optional, an image already in the cluster's nodes (`kind load
  docker-image`); the tests then install or upgrade the chart with it themselves (the
  skaffold `kind` profile's values) and uninstall it afterwards. Without it the platform
  must already be deployed (`skaffold run -p kind`).

The tests drive the cluster as a platform operator would: `kubectl` (on the PATH) for
objects, `kubectl port-forward` to the gateway, HTTP for the shop's API.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("SHOPFLEET_TEST_KUBECONFIG")
NAMESPACE = os.environ.get("SHOPFLEET_TEST_NAMESPACE", "shopfleet")
RELEASE = os.environ.get("SHOPFLEET_TEST_RELEASE", "shopfleet")
IMAGE = os.environ.get("SHOPFLEET_TEST_IMAGE")

SKIP_REASON = (
    "no cluster configured: set SHOPFLEET_TEST_KUBECONFIG to the kubeconfig of a kind cluster "
    "with Dapr installed (see tests/cluster/README.md)"
)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run kubectl against the test cluster; its stdout, or a failure naming the command."""
    command = ["kubectl", "--kubeconfig", str(KUBECONFIG), *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=660)
    if check and done.returncode != 0:
        pytest.fail(f"`{' '.join(command[3:])}` failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def eventually(probe: Callable[[], Any], what: str, *, within_s: float = 240.0) -> Any:
    """Poll `probe` until it returns something truthy (routes reach the gateway through a
    ConfigMap volume, which the kubelet refreshes on its own schedule)."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    pytest.fail(f"{what}: not within {within_s:.0f} s (last seen: {last!r})")


@contextmanager
def port_forward(service: str, port: int) -> Iterator[str]:
    """`kubectl port-forward svc/<service> :<port>`; yields the local base URL."""
    process = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(KUBECONFIG), "-n", NAMESPACE, "port-forward",
         f"svc/{service}", f":{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            errors = process.stderr.read() if process.stderr else ""
            pytest.fail(f"port-forward to {service} did not start: {line}{errors}")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def image_values(image: str) -> dict[str, Any]:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag given
        name, tag = image, "latest"
    return {"repository": name, "tag": tag, "pullPolicy": "IfNotPresent"}


def kind_values() -> dict[str, Any]:
    """The values of skaffold's `kind` profile, parsed as helm --set parses them."""
    import helm_python

    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    profile = next(p for p in skaffold["profiles"] if p["name"] == "kind")
    patch = next(p for p in profile["patches"] if p["path"].endswith("/setValues"))
    return helm_python.parse_set_string(",".join(f"{k}={v}" for k, v in patch["value"].items()))


@pytest.fixture(scope="session")
def cluster() -> None:
    """The cluster is reachable, has Dapr, and kubectl is there."""
    if not KUBECONFIG:
        pytest.skip(SKIP_REASON)
    try:
        kubectl("version", "--client")
    except FileNotFoundError:
        pytest.fail("kubectl is not on the PATH; the cluster tier drives the cluster with it")
    kubectl("get", "--raw", "/readyz")
    if not kubectl("get", "crd", "components.dapr.io", "--ignore-not-found", "-o", "name"):
        pytest.fail("Dapr is not installed in the cluster: `dapr init -k --wait` (or its chart)")


@pytest.fixture(scope="session")
def platform(cluster: None) -> Iterator[str]:
    """The shopfleet release is deployed and its gateway is up; yields the gateway's Service."""
    installed_here = False
    if IMAGE:
        import helm_python

        values = kind_values()
        values["image"] = image_values(IMAGE)
        with helm_python.Config(kubeconfig_path=KUBECONFIG, namespace=NAMESPACE) as config:
            existing = {r["name"] for r in config.list()}
            if RELEASE in existing:
                config.upgrade(str(ROOT / "charts" / "shopfleet"), RELEASE, values,
                               namespace=NAMESPACE, wait="watcher", timeout=900)  # fmt: skip
            else:
                config.install(str(ROOT / "charts" / "shopfleet"), RELEASE, values,
                               namespace=NAMESPACE, create_namespace=True, wait="watcher",
                               timeout=900)  # fmt: skip
                installed_here = True
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component="
    for part in ("gateway", "operator"):
        names = kubectl("-n", NAMESPACE, "get", "deploy", "-l", selector + part, "-o", "name")
        if not names.strip():
            pytest.fail(
                f"no {part} of release {RELEASE} in namespace {NAMESPACE}: deploy the platform "
                "(`skaffold run -p kind`) or set SHOPFLEET_TEST_IMAGE to let the tests install it"
            )
        kubectl("-n", NAMESPACE, "rollout", "status", names.strip(), "--timeout=600s")
    service = kubectl(
        "-n", NAMESPACE, "get", "svc", "-l", selector + "gateway",
        "-o", "jsonpath={.items[0].metadata.name}",
    )  # fmt: skip
    yield service
    if installed_here:
        import helm_python

        with helm_python.Config(kubeconfig_path=KUBECONFIG, namespace=NAMESPACE) as config:
            config.uninstall(RELEASE, wait="watcher", timeout=600)


@pytest.fixture
def gateway(platform: str) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway, through a port-forward."""
    port = int(kubectl("-n", NAMESPACE, "get", "svc", platform,
                       "-o", "jsonpath={.spec.ports[0].port}"))  # fmt: skip
    with port_forward(platform, port) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def example(name: str, *, slug: str) -> tuple[str, dict[str, Any]]:
    """examples/<name> with the Shop (and its Secrets) renamed to `slug`, so that a test never
    touches a shop someone made by hand; the manifest text and the Shop."""
    documents = [d for d in yaml.safe_load_all((ROOT / "examples" / name).read_text()) if d]
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    old = shop["metadata"]["name"]
    renamed = yaml.safe_dump_all(documents).replace(f"{old}-", f"{slug}-")
    renamed = re.sub(rf"\bname: {old}\b", f"name: {slug}", renamed)
    documents = [d for d in yaml.safe_load_all(renamed) if d]
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    hosts = shop["spec"].get("hosts") or []
    shop["spec"]["hosts"] = [f"{slug}-{i}.shops.localtest.me" for i in range(len(hosts))]
    return yaml.safe_dump_all(documents), shop


@pytest.fixture
def slug() -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    yield name
    kubectl("-n", NAMESPACE, "delete", "shop", name, "--ignore-not-found", "--wait=true",
            "--timeout=300s", check=False)  # fmt: skip
