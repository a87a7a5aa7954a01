"""Pods run for real on the simulated node: processes of the project's image in their own
network and mount namespaces, reached through Services, fenced by NetworkPolicies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal

import pytest

from tests.simcluster.conftest import PROJECT_IMAGE, Sim
from tests.support.cluster.image import VENV

pytestmark = pytest.mark.timeout(90)

SLEEP = ["sleep", "1000000"]
FETCH = (
    "import sys, urllib.request as u\n"
    "try:\n"
    "    r = u.urlopen(sys.argv[1], timeout=float(sys.argv[2]))\n"
    "    print('STATUS', r.status)\n"
    "except Exception as e:\n"
    "    print('FAILED', type(e).__name__, e)\n"
)


def deployment(name: str, ns: str, *, replicas: int = 1, labels: dict | None = None, **pod):
    labels = {"app": name, **(labels or {})}
    container = {
        "name": name,
        "image": PROJECT_IMAGE,
        "command": ["python", "-m", "http.server", "8000"],
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 2, **pod},
            },
        },
    }


def service(name: str, ns: str, port: int = 80, target: str | int = "http") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target}],
        },
    }


def pod(name: str, ns: str, command: list[str], *, labels: dict | None = None, **spec) -> dict:
    container = {"name": "main", "image": PROJECT_IMAGE, "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }


async def fetch(sim: Sim, ns: str, pod_name: str, url: str, limit: float = 2.0) -> str:
    _ok, out = await sim.exec(
        ns, pod_name, "main", ["python", "-c", FETCH, url, str(limit)], within=limit + 8
    )
    return out.strip()


async def reachable(sim: Sim, ns: str, pod_name: str, url: str) -> None:
    async def ok():
        return await fetch(sim, ns, pod_name, url) == "STATUS 200"

    await sim.wait_for(f"{url} from {ns}/{pod_name}", ok, within=10)


async def running(sim: Sim, ns: str, name: str) -> dict:
    async def check():
        p = await sim.pod(ns, name)
        return (
            p
            if p
            and (p.get("status") or {}).get("phase") == "Running"
            and sim.node.container(ns, name, "main")
            else None
        )

    return await sim.wait_for(f"{ns}/{name} running", check)


async def test_a_deployment_of_the_project_image_is_ready_and_reached_by_service_name(sim):
    ns = await sim.namespace("web")
    await sim.kube.create(deployment("web", ns, replicas=2))
    await sim.kube.create(service("web", ns))
    await sim.wait_for("2 ready pods", lambda: _len(sim.ready_pods(ns, app="web"), 2))

    async def available():
        d = await sim.kube.get("apps/v1", "deployments", "web", ns)
        status = d.get("status") or {}
        conds = {c["type"]: c for c in status.get("conditions") or []}
        return (
            status.get("availableReplicas") == 2
            and conds.get("Available", {}).get("status") == "True"
            and conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
        )

    await sim.wait_for("the Deployment available", available)
    d = await sim.kube.get("apps/v1", "deployments", "web", ns)
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert d["status"]["readyReplicas"] == d["status"]["updatedReplicas"] == 2
    for p in await sim.pods(ns, app="web"):
        (owner,) = p["metadata"]["ownerReferences"]
        assert owner["kind"] == "Deployment" and owner["uid"] == d["metadata"]["uid"]

    async def endpoints():
        eps = await sim.kube.get("v1", "endpoints", "web", ns)
        subsets = (eps or {}).get("subsets") or []
        return eps if subsets and len(subsets[0].get("addresses") or []) == 2 else None

    eps = await sim.wait_for("2 ready endpoints", endpoints)
    (subset,) = eps["subsets"]
    assert subset["ports"] == [{"port": 8000, "protocol": "TCP", "name": "http"}]
    assert len(subset["addresses"]) == 2

    client_ns = await sim.namespace("client")
    await sim.kube.create(pod("client", client_ns, SLEEP))
    await sim.kube.create(pod("client", ns, SLEEP))
    await running(sim, client_ns, "client")
    await running(sim, ns, "client")
    await reachable(sim, ns, "client", "http://web/")  # the Endpoints reached the pod's rules
    for name in ("web", "web.web", "web.web.svc", "web.web.svc.cluster.local"):
        assert await fetch(sim, ns, "client", f"http://{name}/") == "STATUS 200", name
    for name in ("web.web", "web.web.svc.cluster.local"):
        assert await fetch(sim, client_ns, "client", f"http://{name}/") == "STATUS 200", name
    # The short name is the pod's own namespace only.
    assert (await fetch(sim, client_ns, "client", "http://web/")).startswith("FAILED")
    # The test process reaches a ready endpoint directly.
    host, port = sim.network.service_address(ns, "web", 80)
    assert port == 8000 and host in {a["ip"] for a in subset["addresses"]}
    # The Service got its virtual IP in the spec, as the API server's allocator does.
    svc = await sim.kube.get("v1", "services", "web", ns)
    assert svc["spec"]["clusterIP"] == sim.network.cluster_ip(ns, "web")


async def _len(coro, n):
    items = await coro
    return items if len(items) >= n else None


async def test_a_network_policy_really_refuses_the_connection(sim):
    ns = await sim.namespace("fenced")
    await sim.kube.create(deployment("web", ns))
    await sim.kube.create(service("web", ns))
    await sim.kube.create(pod("friend", ns, SLEEP, labels={"role": "friend"}))
    await sim.kube.create(pod("stranger", ns, SLEEP, labels={"role": "stranger"}))
    await sim.wait_for("web ready", lambda: sim.ready_pods(ns, app="web"))
    await running(sim, ns, "friend")
    await running(sim, ns, "stranger")
    await reachable(sim, ns, "stranger", "http://web/")

    await sim.kube.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-friends", "namespace": ns},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"role": "friend"}}}],
                        "ports": [{"port": "http"}],
                    }
                ],
            },
        }
    )

    async def refused():
        out = await fetch(sim, ns, "stranger", "http://web/", limit=1.0)
        return out.startswith("FAILED")

    await sim.wait_for("the stranger refused", refused, within=10)
    assert await fetch(sim, ns, "friend", "http://web/") == "STATUS 200"

    # Egress declared and empty: the friend reaches nothing any more.
    await sim.kube.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "friend-no-egress", "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"role": "friend"}}, "policyTypes": ["Egress"]},
        }
    )

    async def cut_off():
        out = await fetch(sim, ns, "friend", "http://web/", limit=1.0)
        return out.startswith("FAILED")

    await sim.wait_for("the friend's egress closed", cut_off, within=10)


async def test_read_only_root_user_group_and_volumes(sim):
    ns = await sim.namespace("locked")
    script = (
        "id -u; id -g; id -G; "
        "touch /probe 2>&1 || echo ROOT-READONLY; "
        "touch /scratch/ok && echo SCRATCH-WRITABLE; "
        "touch /data/x 2>&1 || echo DATA-NOT-WRITABLE; "
        "cat /config/greeting; echo; stat -c %a /secret/..data/pw; cat /secret/pw; echo; "
        "echo POD=$POD_NAME NS=$POD_NS IP=$POD_IP SA=$SA GREETING=$greeting "
        "MSG=$MESSAGE; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
        "pwd; ls /"
    )
    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": ns},
            "data": {"greeting": "hello"},
        }
    )
    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sec", "namespace": ns},
            "data": {"password": base64.b64encode(b"s3cret").decode()},
        }
    )
    spec = pod(
        "locked",
        ns,
        ["sh", "-c", script],
        restartPolicy="Never",
        securityContext={"runAsUser": 1234, "runAsGroup": 2345, "fsGroup": 3456},
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "cfg"}},
            {
                "name": "secret",
                "secret": {
                    "secretName": "sec",
                    "defaultMode": 0o400,
                    "items": [{"key": "password", "path": "pw"}],
                },
            },
        ],
        container={
            "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "config", "mountPath": "/config"},
                {"name": "secret", "mountPath": "/secret"},
            ],
            "envFrom": [{"configMapRef": {"name": "cfg"}}],
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "MESSAGE", "value": "$(greeting) from $(POD_NAME), $$(literal)"},
            ],
        },
    )
    await sim.kube.create(spec)

    async def done():
        p = await sim.pod(ns, "locked")
        return p if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    finished = await sim.wait_for("the pod done", done)
    out = sim.node.logs(ns, "locked", "main")
    assert finished["status"]["phase"] == "Succeeded", out
    lines = out.splitlines()
    assert lines[0] == "1234" and lines[1] == "2345"
    assert "3456" in lines[2].split()
    assert "Read-only file system" in out and "ROOT-READONLY" in out
    assert "SCRATCH-WRITABLE" in out
    assert "DATA-NOT-WRITABLE" in out  # the image's /data (10001, 0750)
    assert "hello" in lines
    assert "440" in lines  # defaultMode 0400, group-readable for the fsGroup
    assert "s3cret" in lines
    ip = finished["status"]["podIP"]
    assert (
        f"POD=locked NS={ns} IP={ip} SA=default GREETING=hello MSG=hello from locked, $(literal)"
    ) in out, out
    assert ns in lines
    assert "/data" in lines  # the image's WORKDIR
    root = set(lines[lines.index("/data") + 1 :])
    # Only what the image has, plus the venv at its own path (its scripts' #! lines).
    assert "home" not in root and "opt" in root and VENV.parts[1] in root


async def test_a_missing_secret_is_create_container_config_error(sim):
    ns = await sim.namespace("secretless")
    await sim.kube.create(
        pod(
            "app",
            ns,
            SLEEP,
            container={
                "env": [
                    {
                        "name": "KEY",
                        "valueFrom": {"secretKeyRef": {"name": "absent", "key": "api-key"}},
                    }
                ]
            },
        )
    )

    async def config_error():
        p = await sim.pod(ns, "app")
        (status,) = (p.get("status") or {}).get("containerStatuses") or [{}]
        waiting = (status.get("state") or {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await sim.wait_for("CreateContainerConfigError", config_error)
    assert waiting["message"] == 'secret "absent" not found'
    p = await sim.pod(ns, "app")
    assert p["status"]["phase"] == "Pending"

    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "absent", "namespace": ns},
            "data": {"other": base64.b64encode(b"x").decode()},
        }
    )

    async def key_error():
        w = await config_error()
        return w if w and "couldn't find key api-key" in w["message"] else None

    await sim.wait_for("the missing key reported", key_error)
    await sim.kube.patch(
        "v1", "secrets", "absent", {"data": {"api-key": base64.b64encode(b"k").decode()}}, ns
    )
    await running(sim, ns, "app")


async def test_a_failing_liveness_probe_restarts_into_crash_loop_back_off(sim):
    ns = await sim.namespace("flaky")
    await sim.kube.create(
        pod(
            "flaky",
            ns,
            SLEEP,
            container={
                "livenessProbe": {
                    "tcpSocket": {"port": 9999},
                    "periodSeconds": 1,
                    "failureThreshold": 2,
                    "timeoutSeconds": 1,
                }
            },
        )
    )

    async def crash_looping():
        p = await sim.pod(ns, "flaky")
        (status,) = (p.get("status") or {}).get("containerStatuses") or [{}]
        waiting = (status.get("state") or {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    status = await sim.wait_for("CrashLoopBackOff", crash_looping, within=30)
    assert status["restartCount"] >= 2
    assert status["lastState"]["terminated"]["exitCode"] == 143  # SIGTERM: sleep's default
    assert "back-off" in status["state"]["waiting"]["message"]
    p = await sim.pod(ns, "flaky")
    ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert ready["Ready"] == "False"


async def test_an_unknown_image_is_image_pull_back_off(sim):
    ns = await sim.namespace("pull")
    await sim.kube.create(pod("nope", ns, SLEEP, container={"image": "docker.io/nginx:1.27"}))

    async def backoff():
        p = await sim.pod(ns, "nope")
        (status,) = (p.get("status") or {}).get("containerStatuses") or [{}]
        return (status.get("state") or {}).get("waiting", {}).get("reason") == "ImagePullBackOff"

    await sim.wait_for("ImagePullBackOff", backoff, within=15)


async def test_init_containers_run_in_order_and_share_volumes(sim):
    ns = await sim.namespace("init")
    spec = pod(
        "app",
        ns,
        ["sh", "-c", "cat /work/log; sleep 1000000"],
        initContainers=[
            {
                "name": f"step{i}",
                "image": PROJECT_IMAGE,
                "command": ["sh", "-c", f"echo step{i} >> /work/log"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
            for i in (1, 2)
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "work", "mountPath": "/work"}]},
    )
    await sim.kube.create(spec)
    p = await running(sim, ns, "app")
    conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert conds["Initialized"] == "True"
    await sim.wait_for("the log", lambda: "step2" in sim.node.logs(ns, "app", "main"))
    assert sim.node.logs(ns, "app", "main").split() == ["step1", "step2"]


async def test_rolling_update_within_surge_and_recreate(sim):
    ns = await sim.namespace("roll")
    d = deployment("web", ns, replicas=2)
    d["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    await sim.kube.create(d)
    await sim.wait_for("2 ready", lambda: _len(sim.ready_pods(ns, app="web"), 2))
    first = {p["metadata"]["name"] for p in await sim.pods(ns, app="web")}
    seen_max = 0

    async def rolled():
        nonlocal seen_max
        pods = [
            p for p in await sim.pods(ns, app="web") if not p["metadata"].get("deletionTimestamp")
        ]
        seen_max = max(seen_max, len(pods))
        ready = await sim.ready_pods(ns, app="web")
        names = {p["metadata"]["name"] for p in ready}
        return len(ready) == 2 and not names & first and len(pods) == 2

    await sim.kube.patch(
        "apps/v1",
        "deployments",
        "web",
        {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}},
        ns,
    )
    await sim.wait_for("the rollout", rolled, within=30)
    assert seen_max <= 3  # replicas + maxSurge


async def test_quota_refusing_the_surge_pod_is_replica_failure(sim):
    """The controller's side: a refused create shows as ReplicaFailure (FailedCreate)."""
    ns = await sim.namespace("quota")
    sim.api.fail("POST", f"/namespaces/{ns}/pods", status=403, times=1000)
    await sim.kube.create(deployment("web", ns))

    async def failure():
        d = await sim.kube.get("apps/v1", "deployments", "web", ns)
        conds = {c["type"]: c for c in (d.get("status") or {}).get("conditions") or []}
        return conds.get("ReplicaFailure")

    cond = await sim.wait_for("ReplicaFailure", failure)
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate"


async def test_the_operators_dedicated_deployment_runs_shopfleet_serve_service(sim):
    """Defect 1 (issue 13): `args: ["serve", name]` on top of ENTRYPOINT
    ["shopfleet", "serve"] runs `shopfleet serve serve cart`, which exits at once.

    The Deployment is applied as the operator builds it, with what it references: the
    shop's Secret (for a database password, if the builder asks for one: the machine's
    PostgreSQL trusts local connections) and the machine's PostgreSQL on the bridge."""
    import dataclasses

    import asyncpg

    from shopfleet_operator.build.workloads import service_objects
    from shopfleet_operator.config import Config
    from shopfleet_operator.crd import Shop

    shop = Shop.model_validate(
        {
            "metadata": {"name": "acme", "namespace": "shopfleet"},
            "spec": {
                "displayName": "Acme",
                "hosts": ["acme.example.com"],
                "tier": "dedicated",
                "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "s", "key": "k"}},
            },
        }
    )
    prefix = f"sim_{os.urandom(3).hex()}_"
    wanted = {
        "postgres_host": sim.network.gateway_ip,
        "postgres_user": "postgres",
        "postgres_database_prefix": prefix,
    }
    fields = {f.name for f in dataclasses.fields(Config)}
    config = Config(
        namespace="shopfleet",
        image=PROJECT_IMAGE,
        **{k: v for k, v in wanted.items() if k in fields},
    )
    sim.network.forward_host_port(5432)
    objects = service_objects(shop, config, "cart")
    ns = objects[1]["metadata"]["namespace"]
    await sim.namespace(ns)
    secrets: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        obj["spec"]["replicas"] = 1
        spec = obj["spec"]["template"]["spec"]
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    secrets.setdefault(ref["name"], {})[ref["key"]] = ""
    for name, data in secrets.items():
        await sim.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
        )
    for obj in objects:
        await sim.kube.create(obj)

    async def started():
        for p in await sim.pods(ns):
            c = sim.node.container(ns, p["metadata"]["name"], "cart")
            if c is not None and c.attempt:
                return p
        return None

    try:
        p = await sim.wait_for("the cart container started", started, within=40)
        name = p["metadata"]["name"]
        run = sim.node.container(ns, name, "cart")
        run_dir = sim.node.find(ns, name).dir
        launched = json.loads((run_dir / f"cart.{run.attempt}.json").read_text())
        # Give the process the time to fail on its arguments, if it does.
        with contextlib.suppress(AssertionError):
            await sim.wait_for(
                "an exit", lambda: run.restart_count or "terminated" in run.state, within=5
            )
        log = sim.node.logs(ns, name, "cart", previous=bool(run.restart_count))
        assert launched["argv"][:3] == ["shopfleet", "serve", "cart"], (
            f"the container runs `{' '.join(launched['argv'])}`: {run.last_state}\n{log}"
        )
        assert "Invalid value for 'service'" not in log, log
    finally:
        await sim.node.stop(grace=1)
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
            ):
                await conn.execute(f'DROP DATABASE "{row["datname"]}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_delete_is_sigterm_then_sigkill_after_the_grace_period(sim):
    ns = await sim.namespace("stubborn")
    script = "trap 'echo GOT-TERM' TERM; echo UP; while true; do sleep 0.1; done"
    await sim.kube.create(pod("stubborn", ns, ["sh", "-c", script]))
    await running(sim, ns, "stubborn")
    await sim.wait_for("up", lambda: "UP" in sim.node.logs(ns, "stubborn", "main"))
    run = sim.node.container(ns, "stubborn", "main")
    started = asyncio.get_running_loop().time()
    await sim.kube.delete("v1", "pods", "stubborn", ns)
    await sim.wait_for("killed", lambda: run.proc.returncode is not None, within=10)
    elapsed = asyncio.get_running_loop().time() - started
    assert run.proc.returncode == -signal.SIGKILL
    assert elapsed >= 1.0  # terminationGracePeriodSeconds: 1
    assert "GOT-TERM" in sim.node.logs(ns, "stubborn", "main")


async def test_pods_reach_the_machines_services_and_the_api_server(sim):
    ns = await sim.namespace("reach")
    sim.network.forward_host_port(6379)
    gw = sim.network.gateway_ip
    redis_ping = (
        f"import socket; s = socket.create_connection(('{gw}', 6379), timeout=3); "
        "s.sendall(b'PING\\r\\n'); print(s.recv(64))"
    )
    scheme = "https" if sim.kube.url.startswith("https") else "http"
    api_get = (
        "import os, ssl, urllib.error, urllib.request as u\n"
        "d = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "host = os.environ['KUBERNETES_SERVICE_HOST']\n"
        "port = os.environ['KUBERNETES_SERVICE_PORT']\n"
        f"url = '{scheme}://kubernetes.default.svc:' + port + '/api/v1/namespaces/{ns}/pods'\n"
        "https = url.startswith('https')\n"
        "ctx = ssl.create_default_context(cafile=d + 'ca.crt') if https else None\n"
        "req = u.Request(url, headers={'Authorization': 'Bearer ' + open(d + 'token').read()})\n"
        "try:\n"
        "    code, body = u.urlopen(req, timeout=3, context=ctx).status, ''\n"
        "except urllib.error.HTTPError as e:\n"
        "    code, body = e.code, e.read().decode()\n"
        "print('API', code, host, open(d + 'namespace').read(), body)\n"
    )
    await sim.kube.create(pod("reach", ns, SLEEP))
    await running(sim, ns, "reach")
    _ok, out = await sim.exec(ns, "reach", "main", ["python", "-c", redis_ping])
    assert "PONG" in out, out
    _ok, out = await sim.exec(ns, "reach", "main", ["python", "-c", api_get])
    if hasattr(sim.api, "issue_token"):  # authenticated as the pod's ServiceAccount; RBAC
        assert f"API 403 {sim.network.kubernetes_ip} {ns}" in out, out
        assert f"system:serviceaccount:{ns}:default" in out, out
    else:  # today's emulator: no authentication
        assert f"API 200 {sim.network.kubernetes_ip} {ns}" in out, out


async def test_automount_false_leaves_the_token_out(sim):
    ns = await sim.namespace("tokenless")
    await sim.kube.create(pod("app", ns, SLEEP, automountServiceAccountToken=False))
    await running(sim, ns, "app")
    ok, out = await sim.exec(ns, "app", "main", ["ls", "/var/run/secrets/kubernetes.io"])
    assert not ok and "No such file" in out


async def test_recreate_stops_every_old_pod_before_a_new_one(sim):
    ns = await sim.namespace("recreate")
    d = deployment("web", ns, replicas=2)
    d["spec"]["strategy"] = {"type": "Recreate"}
    await sim.kube.create(d)
    await sim.wait_for("2 ready", lambda: _len(sim.ready_pods(ns, app="web"), 2))
    first = {p["metadata"]["name"] for p in await sim.pods(ns, app="web")}
    mixed = False

    async def recreated():
        nonlocal mixed
        names = {p["metadata"]["name"] for p in await sim.pods(ns, app="web")}
        if names & first and names - first:
            mixed = True
        ready = await sim.ready_pods(ns, app="web")
        return len(ready) == 2 and not {p["metadata"]["name"] for p in ready} & first

    await sim.kube.patch(
        "apps/v1",
        "deployments",
        "web",
        {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}},
        ns,
    )
    await sim.wait_for("recreated", recreated, within=30)
    assert not mixed


async def test_exec_readiness_and_startup_probes(sim):
    ns = await sim.namespace("probes")
    await sim.kube.create(
        pod(
            "gated",
            ns,
            SLEEP,
            container={
                "startupProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
                "readinessProbe": {
                    "exec": {"command": ["test", "-f", "/tmp/ready"]},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                },
            },
        )
    )
    await running(sim, ns, "gated")
    await asyncio.sleep(1.5)
    assert not await sim.ready_pods(ns)
    status = (await sim.pod(ns, "gated"))["status"]["containerStatuses"][0]
    assert status["started"] is True and status["ready"] is False
    ok, out = await sim.exec(ns, "gated", "main", ["touch", "/tmp/ready"])
    assert ok, out
    await sim.wait_for("ready", lambda: sim.ready_pods(ns))
    await sim.exec(ns, "gated", "main", ["rm", "/tmp/ready"])
    await sim.wait_for("unready again", lambda: _none(sim.ready_pods(ns)))


async def _none(coro):
    return not await coro


async def test_a_command_not_found_is_start_error(sim):
    ns = await sim.namespace("nocmd")
    await sim.kube.create(pod("nocmd", ns, ["no-such-binary"], restartPolicy="Never"))

    async def failed():
        p = await sim.pod(ns, "nocmd")
        return p if (p.get("status") or {}).get("phase") == "Failed" else None

    p = await sim.wait_for("the pod failed", failed)
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "StartError" and terminated["exitCode"] == 128
    assert "no-such-binary" in terminated["message"]


def test_a_dead_runs_leftovers_are_removed():
    import subprocess

    from tests.support.cluster.network import STATE_DIR, cleanup_stale

    if os.geteuid() != 0:
        pytest.skip("needs root")
    run_id = "sf" + os.urandom(3).hex()
    dead = subprocess.Popen(["true"])
    dead.wait()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / f"{run_id}.json").write_text(json.dumps({"pid": dead.pid}))
    subprocess.run(["ip", "netns", "add", f"{run_id}-0"], check=True)
    subprocess.run(["ip", "link", "add", f"{run_id}br", "type", "bridge"], check=True)
    cleanup_stale()
    assert (
        f"{run_id}-0"
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    assert subprocess.run(["ip", "link", "show", f"{run_id}br"], capture_output=True).returncode
    assert not (STATE_DIR / f"{run_id}.json").exists()


async def test_every_namespace_gets_a_default_service_account(sim):
    ns = await sim.namespace("accounts")

    async def default():
        return await sim.kube.get("v1", "serviceaccounts", "default", ns)

    await sim.wait_for("the default ServiceAccount", default, within=5)


async def test_a_quota_with_no_room_for_the_surge_pod_stalls_the_rollout(sim):
    """ResourceQuota admission (helper A's server) refuses the rolling update's surge pod:
    the Deployment says ReplicaFailure (FailedCreate) and keeps its old pod serving."""
    if not hasattr(sim.api, "serving"):
        pytest.skip("today's emulator has no ResourceQuota admission")
    ns = await sim.namespace("tight")
    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "pods", "namespace": ns},
            "spec": {"hard": {"pods": "1"}},
        }
    )
    d = deployment("web", ns)
    d["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    await sim.kube.create(d)
    await sim.wait_for("ready", lambda: sim.ready_pods(ns, app="web"))
    await sim.kube.patch(
        "apps/v1",
        "deployments",
        "web",
        {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}},
        ns,
    )

    async def failure():
        dep = await sim.kube.get("apps/v1", "deployments", "web", ns)
        conds = {c["type"]: c for c in (dep.get("status") or {}).get("conditions") or []}
        return conds.get("ReplicaFailure")

    cond = await sim.wait_for("ReplicaFailure", failure)
    assert cond["reason"] == "FailedCreate" and "quota" in cond["message"], cond
    assert len(await sim.ready_pods(ns, app="web")) == 1  # the old pod still serves


async def test_an_egress_policy_allows_only_what_it_lists(sim):
    ns = await sim.namespace("egress")
    sim.network.forward_host_port(6379)
    gw = sim.network.gateway_ip
    await sim.kube.create(deployment("web", ns))
    await sim.kube.create(service("web", ns))
    await sim.kube.create(pod("app", ns, SLEEP, labels={"role": "app"}))
    await sim.wait_for("web ready", lambda: sim.ready_pods(ns, app="web"))
    await running(sim, ns, "app")
    await reachable(sim, ns, "app", "http://web/")
    await sim.kube.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "app-to-redis-only", "namespace": ns},
            "spec": {
                "podSelector": {"matchLabels": {"role": "app"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": f"{gw}/32"}}], "ports": [{"port": 6379}]}],
            },
        }
    )
    ping = (
        f"import socket; s = socket.create_connection(('{gw}', 6379), timeout=2); "
        "s.sendall(b'PING\\r\\n'); print(s.recv(64))"
    )

    async def fenced():
        return (await fetch(sim, ns, "app", "http://web/", limit=1.0)).startswith("FAILED")

    await sim.wait_for("web fenced off", fenced, within=10)
    _ok, out = await sim.exec(ns, "app", "main", ["python", "-c", ping])
    assert "PONG" in out, out


async def test_a_configmap_volume_follows_its_configmap(sim):
    ns = await sim.namespace("live")
    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "routes", "namespace": ns},
            "data": {"routes.json": "v1"},
        }
    )
    await sim.kube.create(
        pod(
            "reader",
            ns,
            SLEEP,
            volumes=[{"name": "routes", "configMap": {"name": "routes"}}],
            container={"volumeMounts": [{"name": "routes", "mountPath": "/routes"}]},
        )
    )
    await running(sim, ns, "reader")

    async def content(expected):
        _ok, out = await sim.exec(ns, "reader", "main", ["cat", "/routes/routes.json"])
        return out == expected

    assert await content("v1")
    await sim.kube.patch("v1", "configmaps", "routes", {"data": {"routes.json": "v2"}}, ns)
    await sim.wait_for("the new version", lambda: content("v2"), within=5)


async def test_a_restarted_sidecar_reads_its_components_again(sim):
    """daprd asks Dapr's operator for its components each time it starts: a component whose
    Secret did not exist when the pod started stops the sidecar, and once the Secret is
    there, the sidecar's next start loads it (no new pod needed)."""
    ns = await sim.namespace("late-secret")
    await sim.kube.create(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "secrets", "namespace": ns},
            "spec": {
                "type": "secretstores.kubernetes",
                "version": "v1",
                "metadata": [
                    {"name": "defaultNamespace", "secretKeyRef": {"name": "late", "key": "ns"}}
                ],
            },
        }
    )
    app = pod("app", ns, SLEEP)
    app["metadata"]["annotations"] = {"dapr.io/enabled": "true", "dapr.io/app-id": "app"}
    await sim.kube.create(app)

    async def sidecar(restarted: bool, ready: bool):
        p = await sim.pod(ns, "app")
        for status in (p.get("status") or {}).get("containerStatuses") or []:
            if status["name"] != "daprd":
                continue
            if restarted and status.get("restartCount", 0) < 1:
                return None
            return status if status.get("ready") or not ready else None
        return None

    await sim.wait_for("the sidecar stopped once", lambda: sidecar(True, False), within=30)
    run = sim.node.container(ns, "app", "daprd")
    assert run is not None
    assert 'secrets "late" not found' in sim.node.logs(ns, "app", "daprd", previous=True)
    await sim.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "late", "namespace": ns},
            "data": {"ns": base64.b64encode(ns.encode()).decode()},
        }
    )
    await sim.wait_for("the sidecar ready", lambda: sidecar(True, True), within=60)


async def test_a_volume_over_the_venvs_own_path_does_not_hide_the_image_entrypoint(sim):
    """The venv's scripts (`shopfleet`) name the venv's own path in their #! line. A fresh
    clone may live under /tmp, where the chart mounts an emptyDir: the entrypoint must
    still start (it failed with the venv mounted before the pod's volumes)."""

    top = "/" + VENV.parts[1]  # e.g. /tmp for a clone in /tmp, /work here
    ns = await sim.namespace("venv")
    spec = pod(
        "venv",
        ns,
        ["shopfleet", "--help"],
        restartPolicy="Never",
        volumes=[{"name": "scratch", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "scratch", "mountPath": top}]},
    )
    await sim.kube.create(spec)

    async def finished():
        p = await sim.pod(ns, "venv")
        return p if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    p = await sim.wait_for("the entrypoint to finish", finished, within=30)
    state = p["status"]["containerStatuses"][0]["state"]
    assert p["status"]["phase"] == "Succeeded", (state, sim.node.logs(ns, "venv", "main"))
