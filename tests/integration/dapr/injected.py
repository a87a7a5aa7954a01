"""Run what the Dapr injector returns as the node would, without the node: the container's
`files` written under a folder of the test, its command and args run as a process (ports
made free ones, paths moved under that folder), the pod's ServiceAccount token mounted
only when the pod mounts it (`automountServiceAccountToken`), as the kubelet does.

To be replaced by helper B's node at integration; the cluster tier runs the same
containers for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import orjson

from tests.support.cluster import dapr

ROOT = Path(__file__).resolve().parents[3]


def kubelet_mounts_token(pod: dict) -> bool:
    """The token volume is mounted unless the pod (or its ServiceAccount) says not to."""
    return (pod.get("spec") or {}).get("automountServiceAccountToken") is not False


def pod_of(deployment: dict, name: str | None = None) -> dict:
    """A pod as the Deployment's ReplicaSet would create it."""
    template = deployment["spec"]["template"]
    meta = deployment["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template.get("metadata", {}),
            "name": name or f"{meta['name']}-{uuid.uuid4().hex[:5]}",
            "namespace": meta["namespace"],
        },
        "spec": template["spec"],
    }


@dataclass
class SidecarRun:
    returncode: int | None
    ready: dict | None
    stderr: str
    proc: asyncio.subprocess.Process | None = None
    folder: Path | None = None
    http_port: int | None = None
    lines: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"exit code {self.returncode}; the sidecar's log:\n{self.stderr}"


_PATH_FLAGS = {"--resources-path", "--config", "--peer-secret-file"}
_PORT_FLAGS = {"--http-port", "--grpc-port", "--dapr-internal-grpc-port", "--metrics-port"}


def _local_args(args: list[str], folder: Path, prefix: str) -> list[str]:
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in _PATH_FLAGS:
            value = next(it)
            out += [arg, str(folder / value.lstrip("/")) if value.startswith("/") else value]
        elif arg in _PORT_FLAGS:
            next(it)
            out += [arg, "0"]
        elif arg == "--host":
            next(it)
            out += [arg, "127.0.0.1"]
        elif arg == "--prefix":
            next(it)
            out += [arg, prefix]
        else:
            out.append(arg)
    return out


def _mount(container: dict, folder: Path, *, token: bool) -> Path:
    """The container's files, and the pod's ServiceAccount volume (token only if mounted)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in container.get("files", {}).items():
        target = folder / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    sa = folder / "serviceaccount"
    sa.mkdir(exist_ok=True)
    if token:
        (sa / "token").write_text("a-serviceaccount-token")
        shutil.copy(certifi.where(), sa / "ca.crt")
    return sa


def _container_env(container: dict) -> dict[str, str]:
    """The container's plain `env` values, and the pod fields daprd reads (POD_NAME,
    NAMESPACE) as the kubelet would give them (the pod's name made up)."""
    args = container.get("args") or []
    namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "default"
    fields = {"metadata.name": "sidecar-test-pod", "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif (
            path := ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        ) in fields:
            env[item["name"]] = fields[path]
    return env


async def run_sidecar(
    container: dict,
    folder: Path,
    *,
    token: bool,
    prefix: str,
    timeout_s: float = 30.0,
) -> SidecarRun:
    """Start the sidecar container; return once it printed READY or exited."""
    sa = _mount(container, folder, token=token)
    args = [*_local_args(container["args"], folder, prefix), "--serviceaccount-dir", str(sa)]
    env = {
        **os.environ,
        **_container_env(container),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "6443",
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT)),
    }
    assert container["command"][:1] == ["python"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *container["command"][1:],
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr: list[str] = []

    async def drain() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            stderr.append(line.decode(errors="replace"))

    drainer = asyncio.create_task(drain())
    ready = None
    try:
        async with asyncio.timeout(timeout_s):
            async for raw in proc.stdout:
                line = raw.decode()
                if line.startswith("READY "):
                    ready = orjson.loads(line[len("READY ") :])
                    break
            if ready is None:
                await proc.wait()
                await drainer
    except TimeoutError:
        pass
    run = SidecarRun(proc.returncode, ready, "".join(stderr), proc, folder)
    run.lines = stderr
    if ready is not None:
        run.http_port = ready["http_port"]
    return run


async def stop(run: SidecarRun) -> str:
    """SIGTERM, wait, and the whole log."""
    if run.proc is not None and run.proc.returncode is None:
        run.proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.proc.wait(), 15)
        if run.proc.returncode is None:
            run.proc.kill()
            await run.proc.wait()
    await asyncio.sleep(0.05)
    return "".join(run.lines)


__all__ = ["SidecarRun", "dapr", "kubelet_mounts_token", "pod_of", "run_sidecar", "stop"]
