"""The kubelet of the simulated cluster: every pod's containers run as processes here.

    node = Node(kube_admin, network, images, api, workdir)
    await node.start()            # watches all pods, runs them, writes their status
    node.logs("shop", "cart-5d9f-abcde", "cart") -> str
    node.describe_failures() -> str
    await node.stop()             # every container stopped (SIGTERM, then SIGKILL)

A container is started as

    nsenter --net=/run/netns/<pod> -- unshare --mount --uts --propagation private -- \
        python -I -S <workdir>/launch.py <spec.json>

`launch.py` (LAUNCHER below) builds the container's root on a tmpfs inside its new mount
namespace (the image's directories, the host's /usr and a few /etc files read-only, the
pyenv Python, the venv at /opt/shopfleet, the checkout read-only, the pod's hosts and
resolv.conf, the volumes), remounts that root read-only under `readOnlyRootFilesystem`,
chroots into it, sets the hostname and execs `setpriv` to the securityContext's uid, gid
and groups (no_new_privs under `allowPrivilegeEscalation: false`, the runtime's default
capability bounding set). setpriv execs the command from `image.command_for`. The process
group of that pid is the container.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.cluster.background import cancel_all
from tests.support.cluster.client import ApiError, KubeClient
from tests.support.cluster.image import (
    CHECKOUT_IN_IMAGE,
    VENV,
    VENV_IN_IMAGE,
    ImageConfig,
    Images,
    command_for,
    expand,
)
from tests.support.cluster.network import Network

try:  # helper C's injector; without it, pods run without a sidecar
    from tests.support.cluster import dapr as _dapr
except ImportError:  # pragma: no cover - until dapr.py lands
    _dapr = None

PYENV = Path("/root/.pyenv")
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Docker's/containerd's default capabilities for a container.
DEFAULT_CAPS = [
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "net_raw",
    "sys_chroot",
    "mknod",
    "audit_write",
    "setfcap",
]
HOST_ETC = [
    "ssl",
    "ca-certificates",
    "ld.so.cache",
    "localtime",
    "alternatives",
    "mime.types",
    "protocols",
    "services",
    "host.conf",
    "gai.conf",
    "timezone",
]
MAX_BACKOFF = 300.0


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ProbeState:
    """The kubelet's counting for one probe of one container: the result turns to success
    after `successThreshold` successes in a row, to failure after `failureThreshold`
    failures in a row. Readiness and startup start failed, liveness starts successful."""

    probe: dict
    result: bool
    successes: int = 0
    failures: int = 0
    failed: bool = False  # failureThreshold reached at least once

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds", 10))

    @property
    def initial_delay(self) -> float:
        return float(self.probe.get("initialDelaySeconds", 0))

    def record(self, ok: bool) -> bool:
        """Count one result; True when the probe's result changed."""
        before = self.result
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.get("successThreshold", 1):
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.probe.get("failureThreshold", 3):
                self.result = False
                self.failed = True
        return self.result != before


def _start_error(log_path: Path) -> str | None:
    """The launcher's or setpriv's complaint, if that is why the container ended."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()[-3:]
    except OSError:
        return None
    for line in lines:
        if line.startswith(("setpriv: failed to execute", "container setup failed")):
            return line
    return None


def _execed(pid: int, launcher: str) -> bool:
    """Whether the container's process has left the launcher for its command."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return False
    first = os.path.basename(argv[0].decode(errors="replace")) if argv else ""
    return (
        root != "/"
        and launcher.encode() not in argv
        and first not in ("nsenter", "unshare", "setpriv")
    )


class ConfigError(Exception):
    """CreateContainerConfigError: what the kubelet cannot resolve from the API."""


class MountError(Exception):
    """A volume's source is missing (the pod stays ContainerCreating, FailedMount)."""


# ---- the launcher: runs as root in the container's fresh mount namespace ----------------------

LAUNCHER = r"""
import ctypes, json, os, socket, sys
spec = json.load(open(sys.argv[1]))
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
def mount(src, dst, fstype, flags, data=""):
    if libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None,
                  flags, data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (src, dst, os.strerror(e)))
def bind(src, dst, ro):
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    if ro:
        mount("none", dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC)
root = spec["root"]
try:
    mount("tmpfs", root, "tmpfs", MS_NODEV, "mode=0755")
    for path, uid, gid, mode in spec["dirs"]:
        p = root + path
        os.makedirs(p, exist_ok=True)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
    for target, path in spec["symlinks"]:
        os.symlink(target, root + path)
    for path, content, mode in spec["files"]:
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        with open(root + path, "w") as f:
            f.write(content)
        os.chmod(root + path, mode)
    for src, dst, ro in spec["binds"]:
        bind(src, root + dst, ro)
    os.makedirs(root + "/proc", exist_ok=True)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV)
    os.makedirs(root + "/dev", exist_ok=True)
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "mode=0755")
    for dev in ("null", "zero", "full", "random", "urandom", "tty"):
        bind("/dev/" + dev, root + "/dev/" + dev, False)
    os.makedirs(root + "/dev/shm")
    mount("shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, root + "/dev/" + name)
    for src, dst, ro in spec["volumes"]:
        bind(src, root + dst, ro)
    workdir = root + spec["workdir"]
    if not os.path.isdir(workdir):
        os.makedirs(workdir)
    if spec["read_only_root"]:
        mount("none", root, None, MS_REMOUNT | MS_RDONLY | MS_NODEV)
    os.chroot(root)
    os.chdir(spec["workdir"])
    socket.sethostname(spec["hostname"])
except OSError as exc:
    sys.stderr.write("container setup failed: %s\n" % exc)
    sys.exit(128)
os.execve("/usr/bin/setpriv", spec["setpriv"] + ["--"] + spec["argv"], spec["env"])
"""


# ---- volumes -------------------------------------------------------------------------------------


def write_atomic(target: Path, files: dict[str, tuple[bytes, int]], gid: int | None) -> None:
    """The kubelet's atomic writer: `..data` -> a timestamped dir, keys as symlinks, so a
    mounted directory sees a whole new version at once."""
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o755 if gid is None else 0o2775)
    if gid is not None:
        os.chown(target, 0, gid)
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    version = target / stamp
    version.mkdir()
    os.chmod(version, 0o755)
    for rel, (content, mode) in files.items():
        path = version / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if gid is not None:
            os.chown(path, 0, gid)
            mode |= 0o040
        os.chmod(path, mode)
    tmp_link = target / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(stamp)
    old = os.readlink(target / "..data") if (target / "..data").is_symlink() else None
    os.replace(tmp_link, target / "..data")
    for rel in files:
        top = rel.split("/", 1)[0]
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    for entry in target.iterdir():
        if (
            entry.is_symlink()
            and not entry.name.startswith("..")
            and entry.name not in {r.split("/", 1)[0] for r in files}
        ):
            entry.unlink()
    if old:
        shutil.rmtree(target / old, ignore_errors=True)


def project_items(
    data: dict[str, bytes], items: list[dict] | None, default_mode: int, what: str, optional: bool
) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise MountError(f"configmap/secret {what}: couldn't find key {item['key']}")
        out[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
    return out


# ---- runtime state -----------------------------------------------------------------------------


@dataclass
class ContainerRun:
    spec: dict
    init: bool = False
    sidecar_files: dict[str, str] = field(default_factory=dict)
    injected: bool = False
    proc: asyncio.subprocess.Process | None = None
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    attempt: int = 0
    log_dir: Path | None = None
    backoff: float = 0.0
    last_start: float = 0.0
    killed_by_probe: bool = False
    execed: bool = False
    probe_tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec["name"]

    def status(self, image_ref: str) -> dict:
        out = {
            "name": self.name,
            "image": image_ref or "",
            "imageID": f"sim://{image_ref}" if image_ref else "",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.proc is not None:
            out["containerID"] = f"sim://{self.proc.pid}"
        if not self.init:
            out["started"] = self.started
        return out


class PodRun:
    def __init__(self, node: Node, pod: dict) -> None:
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.ns: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir = node.workdir / "pods" / f"{self.ns}_{self.name}_{self.uid[:8]}"
        self.ip: str | None = None
        self.inits = [ContainerRun(c, init=True) for c in pod["spec"].get("initContainers") or []]
        self.containers = [ContainerRun(c) for c in pod["spec"].get("containers") or []]
        self.initialized = not self.inits
        self.phase = "Pending"
        self.start_time = now()
        self.message = ""
        self.reason = ""
        self.terminating = False
        self.task: asyncio.Task | None = None
        self._status_dirty = asyncio.Event()
        self._last_status: dict | None = None
        self._volume_versions: dict[str, Any] = {}
        self._volumes_changed = asyncio.Event()
        # Cleared by a test: the kubelet's sync of this pod's configMap and secret volumes
        # waits (a real kubelet takes up to a minute, at its own pace on each node).
        self.volume_sync = asyncio.Event()
        self.volume_sync.set()
        self.volume_dirs: dict[str, Path] = {}
        self.extra_images: dict[str, ImageConfig] = {}

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def spec(self) -> dict:
        return self.pod["spec"]

    def all_runs(self) -> list[ContainerRun]:
        return [*self.inits, *self.containers]

    def mark(self) -> None:
        self._status_dirty.set()

    def pod_sc(self) -> dict:
        return self.spec.get("securityContext") or {}

    # ---- status -----------------------------------------------------------------------------

    def status(self) -> dict:
        images = {c["name"]: c.get("image", "") for c in self.spec.get("containers") or []}
        images.update(
            {c["name"]: c.get("image", "") for c in self.spec.get("initContainers") or []}
        )
        for c in self.containers:
            images.setdefault(c.name, c.spec.get("image", ""))
        ready_all = bool(self.containers) and all(c.ready for c in self.containers)

        def cond(kind: str, ok: bool, reason: str | None = None) -> dict:
            out = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
            if not ok and reason:
                out["reason"] = reason
            return out

        not_ready = [c.name for c in self.containers if not c.ready]
        reason = f"containers with unready status: [{' '.join(not_ready)}]"
        status = {
            "phase": self.phase,
            "hostIP": self.node.network.gateway_ip,
            "startTime": self.start_time,
            "conditions": [
                cond("PodScheduled", True),
                cond("Initialized", self.initialized, "ContainersNotInitialized"),
                cond("ContainersReady", ready_all, "ContainersNotReady"),
                cond("Ready", ready_all, "ContainersNotReady"),
            ],
            "containerStatuses": [c.status(images.get(c.name, "")) for c in self.containers],
        }
        for c in status["conditions"]:
            if c["type"] in ("ContainersReady", "Ready") and c["status"] == "False":
                c["message"] = reason
        if self.inits:
            status["initContainerStatuses"] = [c.status(images.get(c.name, "")) for c in self.inits]
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        # None removes a reason that no longer holds (the status is a merge patch).
        status["reason"] = self.reason or None
        status["message"] = self.message or None
        return status

    async def write_status_loop(self) -> None:
        while True:
            await self._status_dirty.wait()
            await asyncio.sleep(0.02)
            self._status_dirty.clear()
            await self.write_status()

    async def write_status(self) -> None:
        status = self.status()
        if status == self._last_status:
            return
        try:
            await self.node.kube.patch_status(("v1", "pods", self.name, self.ns), status)
            self._last_status = status
            self.pod["status"] = status
            self.node.network.pod_updated(self.pod)
        except ApiError as exc:
            if exc.status != 404:
                self.node.log(f"status of {self.ns}/{self.name}: {exc}")
        except aiohttp.ClientError:
            pass

    # ---- the pod's life --------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.create_task(self.write_status_loop())
        try:
            self.mark()
            self.dir.mkdir(parents=True, exist_ok=True)
            self.ip = await self.node.network.attach_pod(self.pod)
            self.mark()
            await self._inject_sidecars()
            await self._prepare_volumes_until_ready()
            refresher = asyncio.create_task(self._refresh_volumes())
            try:
                for run in self.inits:
                    ok = await self._run_init(run)
                    if not ok:
                        return
                self.initialized = True
                self.mark()
                await asyncio.gather(*(self._run_main(c) for c in self.containers))
            finally:
                refresher.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.reason, self.message = "NodeError", f"{type(exc).__name__}: {exc}"
            self.node.log(f"pod {self.ns}/{self.name}: {self.message}")
            self.mark()
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if not self.terminating:
                await self.write_status()

    async def _inject_sidecars(self) -> None:
        annotations = self.pod["metadata"].get("annotations") or {}
        if annotations.get("dapr.io/enabled") != "true" or _dapr is None:
            return
        extra = await _dapr.inject(self.pod, self.node.kube, **self.node.dapr_options)
        for container in extra or []:
            container = dict(container)
            files = container.pop("files", None) or {}
            self.containers.append(ContainerRun(container, sidecar_files=files, injected=True))
        self.mark()

    async def _run_init(self, run: ContainerRun) -> bool:
        policy = self.spec.get("restartPolicy", "Always")
        while True:
            code = await self._attempt(run)
            if code is None:  # the pod is going away
                return False
            if code == 0:
                run.ready = True  # as the kubelet reports a completed init container
                self.mark()
                return True
            if policy == "Never":
                self.phase = "Failed"
                self.mark()
                return False
            await self._backoff(run, "Init:CrashLoopBackOff")

    async def _run_main(self, run: ContainerRun) -> None:
        policy = self.spec.get("restartPolicy", "Always")
        while True:
            code = await self._attempt(run)
            if code is None:  # the pod is going away
                return
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                self._settle_phase()
                return
            await self._backoff(run, "CrashLoopBackOff")

    def _settle_phase(self) -> None:
        states = [c.state for c in self.containers]
        if all("terminated" in s for s in states):
            codes = [s["terminated"]["exitCode"] for s in states]
            self.phase = "Succeeded" if all(c == 0 for c in codes) else "Failed"
        self.mark()

    async def _backoff(self, run: ContainerRun, reason: str) -> None:
        scale = self.node.backoff_scale
        if time.monotonic() - run.last_start > 600 * scale:
            run.backoff = 0.0  # ran long enough: the back-off starts over
        delay = run.backoff
        run.backoff = min(MAX_BACKOFF, max(10.0, run.backoff * 2))
        if delay > 0:
            run.state = {
                "waiting": {
                    "reason": reason.removeprefix("Init:"),
                    "message": f"back-off {int(delay)}s restarting failed "
                    f"container={run.name} pod={self.name}_{self.ns}({self.uid})",
                }
            }
            self.mark()
            await asyncio.sleep(delay * scale)

    # ---- one attempt of one container -------------------------------------------------------

    async def _refresh_sidecar_files(self, run: ContainerRun) -> None:
        """daprd asks Dapr's operator for its components each time it starts, so a restarted
        sidecar sees the Components and Secrets as they are now (a Secret created after the
        pod, say), not as they were when the pod was admitted."""
        try:
            extra = await _dapr.inject(
                self.pod, self.node.kube, **self.node.dapr_options, service=False
            )
        except Exception as exc:  # the pod's sidecar as first injected, then
            self.node.log(
                f"{self.ns}/{self.name} {run.name}: re-reading its components failed: {exc!r}"
            )
            return
        for container in extra or []:
            if container.get("name") == run.name:
                run.sidecar_files = dict(container.get("files") or {})

    async def _attempt(self, run: ContainerRun) -> int | None:
        """Start the container (waiting while its config cannot be resolved), wait for its
        exit. None when the pod is terminating."""
        if run.injected and run.attempt > 0 and _dapr is not None:
            await self._refresh_sidecar_files(run)
        while True:
            if self.terminating:
                return None
            image = self._image_of(run)
            if image is None:
                run.state = {
                    "waiting": {
                        "reason": "ImagePullBackOff" if run.attempt else "ErrImagePull",
                        "message": f'Back-off pulling image "{run.spec.get("image")}"',
                    }
                }
                run.attempt += 1
                self.mark()
                await asyncio.sleep(2 * self.node.backoff_scale + 0.5)
                continue
            try:
                launch = await self._launch_spec(run, image)
            except ConfigError as exc:
                run.state = {
                    "waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}
                }
                self.mark()
                await asyncio.sleep(1.0)
                continue
            break
        run.attempt += 1
        run.log_dir = self.dir / "logs" / run.name
        run.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = run.log_dir / f"{run.attempt}.log"
        spec_path = self.dir / f"{run.name}.{run.attempt}.json"
        root = self.dir / "roots" / run.name
        root.mkdir(parents=True, exist_ok=True)
        launch["root"] = str(root)
        spec_path.write_text(json.dumps(launch))
        argv = [
            "nsenter",
            f"--net={self.node.network.netns_path(self.uid)}",
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            "-S",
            str(self.node.launcher),
            str(spec_path),
        ]
        with open(log_path, "ab") as log:  # noqa: ASYNC230 - an fd for the child
            run.proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        run.execed = False
        # Running once the launcher has exec'd the command (the runtime's "started"), not
        # while it still builds the root: an exec or probe then would see the host.
        deadline = time.monotonic() + 10
        while run.proc.returncode is None and time.monotonic() < deadline:
            if _execed(run.proc.pid, str(self.node.launcher)):
                run.execed = True
                break
            await asyncio.sleep(0.01)
        run.last_start = time.monotonic()
        run.killed_by_probe = False
        run.ready = False
        run.started = False
        run.state = {"running": {"startedAt": now()}}
        if not run.init and self.phase == "Pending":
            self.phase = "Running"
        self.mark()
        if not run.init:
            run.probe_tasks = [asyncio.create_task(self._probes(run))]
        try:
            code = await run.proc.wait()
        finally:
            for task in run.probe_tasks:
                task.cancel()
            run.probe_tasks = []
        # The container is its process group: what it left behind goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.proc.pid, signal.SIGKILL)
        exit_code = code if code >= 0 else 128 - code
        reason = "Completed" if exit_code == 0 else "Error"
        start_error = _start_error(log_path) if code in (127, 126, 128) else None
        if start_error:  # the runtime could not start it: no command, no root
            exit_code, reason = 128, "StartError"
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": run.state.get("running", {}).get("startedAt", now()),
            "finishedAt": now(),
            "containerID": f"sim://{run.proc.pid}",
        }
        if code < 0:
            terminated["signal"] = -code
        if start_error:
            terminated["message"] = start_error
        run.ready = False
        run.started = False
        run.state = {"terminated": terminated}
        run.last_state = {"terminated": terminated}
        if self.terminating:
            self.mark()
            return None
        if not run.init or exit_code != 0:
            will_restart = self.spec.get("restartPolicy", "Always") == "Always" or (
                self.spec.get("restartPolicy") == "OnFailure" and exit_code != 0
            )
            if will_restart:
                run.restart_count += 1
        self.mark()
        return exit_code

    def _image_of(self, run: ContainerRun) -> ImageConfig | None:
        ref = run.spec.get("image")
        if not ref and run.injected:
            # An injected sidecar without an image runs from the venv.
            return self.node.images.sidecar
        return self.node.images.resolve(ref or "")

    # ---- environment, command, security ----------------------------------------------------

    async def _launch_spec(self, run: ContainerRun, image: ImageConfig) -> dict:
        container = run.spec
        env = await self._container_env(container)
        argv = command_for(container, image, env)
        if not argv:
            raise ConfigError("no command specified")
        full_env = dict(image.env)
        if image is self.node.images.project or image is self.node.images.sidecar:
            full_env["PYTHONPATH"] = self.node.images.pythonpath()
        full_env.update(self.node.service_env(self.ns, self.spec))
        full_env.update(env)
        full_env.setdefault("HOSTNAME", self._hostname())
        sc = container.get("securityContext") or {}
        psc = self.pod_sc()
        uid = self._uid(container, image)
        if "runAsGroup" in sc or "runAsGroup" in psc:
            gid = int(sc.get("runAsGroup", psc.get("runAsGroup")))
        elif "runAsUser" in sc or "runAsUser" in psc:
            # As the runtime does: the primary group of that user in the image's passwd.
            gid = 10001 if uid == 10001 else 0
        else:
            gid = image.gid
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
            raise ConfigError("container has runAsNonRoot and image will run as root")
        full_env.setdefault("HOME", {0: "/root", 10001: "/nonexistent"}.get(uid, "/"))
        groups = [
            g for g in [psc.get("fsGroup"), *(psc.get("supplementalGroups") or [])] if g is not None
        ]
        setpriv = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}"]
        setpriv.append(f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups")
        if sc.get("allowPrivilegeEscalation") is False:
            setpriv.append("--no-new-privs")
        caps = set(DEFAULT_CAPS)
        if sc.get("privileged"):
            caps = {"all"}
        drops = [c.lower() for c in (sc.get("capabilities") or {}).get("drop") or []]
        adds = [c.lower() for c in (sc.get("capabilities") or {}).get("add") or []]
        caps = set() if "all" in drops and "all" not in caps else caps - set(drops)
        caps |= set(adds)
        caps = {c.removeprefix("cap_") for c in caps}
        if "all" not in caps:
            bounding = ",".join(["-all", *(f"+{c}" for c in sorted(caps))])
            setpriv += [f"--bounding-set={bounding}", f"--inh-caps={bounding}"]

        binds, volumes = self._binds(run, image, container)
        files = [
            ["/etc/passwd", self._passwd(uid, gid), 0o644],
            ["/etc/group", self._group(gid, groups), 0o644],
            ["/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n", 0o644],
        ]
        dirs = [
            ["/tmp", 0, 0, 0o1777],
            ["/var/tmp", 0, 0, 0o1777],
            ["/root", 0, 0, 0o700 if uid == 0 else 0o755],
            ["/etc", 0, 0, 0o755],
            ["/opt", 0, 0, 0o755],
        ]
        dirs += [[p, u, g, m] for p, (u, g, m) in sorted(image.dirs.items())]
        return {
            "dirs": dirs,
            "symlinks": [
                ["usr/bin", "/bin"],
                ["usr/sbin", "/sbin"],
                ["usr/lib", "/lib"],
                ["usr/lib64", "/lib64"],
            ],
            "files": files,
            "binds": binds,
            "volumes": volumes,
            "workdir": container.get("workingDir") or image.workdir or "/",
            "read_only_root": bool(sc.get("readOnlyRootFilesystem")),
            "hostname": self._hostname(),
            "setpriv": setpriv,
            "argv": argv,
            "env": full_env,
        }

    def _uid(self, container: dict, image: ImageConfig) -> int:
        sc = container.get("securityContext") or {}
        return int(sc.get("runAsUser", self.pod_sc().get("runAsUser", image.uid)))

    def _hostname(self) -> str:
        return (self.spec.get("hostname") or self.name)[:63]

    @staticmethod
    def _passwd(uid: int, gid: int) -> str:
        lines = [
            "root:x:0:0:root:/root:/bin/sh",
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
        ]
        lines.append("shopfleet:x:10001:10001::/nonexistent:/usr/sbin/nologin")
        if uid not in (0, 65534, 10001):
            lines.append(f"u{uid}:x:{uid}:{gid}::/:/usr/sbin/nologin")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _group(gid: int, groups: list[int]) -> str:
        lines = ["root:x:0:", "nogroup:x:65534:", "shopfleet:x:10001:"]
        for g in {gid, *groups} - {0, 65534, 10001}:
            lines.append(f"g{g}:x:{g}:")
        return "\n".join(lines) + "\n"

    def _binds(
        self, run: ContainerRun, image: ImageConfig, container: dict
    ) -> tuple[list[list], list[list]]:
        node = self.node
        etc = node.network.etc_dir(self.uid)
        binds: list[list] = [["/usr", "/usr", True]]
        for name in HOST_ETC:
            if Path("/etc", name).exists():
                binds.append([f"/etc/{name}", f"/etc/{name}", True])
        binds += [
            [str(etc / "hosts"), "/etc/hosts", True],
            [str(etc / "resolv.conf"), "/etc/resolv.conf", True],
            [str(etc / "hostname"), "/etc/hostname", True],
            [str(PYENV), str(PYENV), True],
        ]
        if (
            image is node.images.project
            or image is node.images.sidecar
            or (image.env.get("PATH", "").startswith(VENV_IN_IMAGE))
        ):
            binds += [
                [str(VENV), VENV_IN_IMAGE, True],
                [str(node.images.checkout), CHECKOUT_IN_IMAGE, True],
            ]
        volumes: list[list] = []
        if run.sidecar_files:
            files_dir = self.dir / "sidecar-files" / run.name
            for i, (path, content) in enumerate(sorted(run.sidecar_files.items())):
                host = files_dir / str(i)
                host.parent.mkdir(parents=True, exist_ok=True)
                host.write_text(content)
                os.chmod(host, 0o644)
                volumes.append([str(host), path, True])
        mounted = {m["mountPath"] for m in container.get("volumeMounts") or []}
        for mount in container.get("volumeMounts") or []:
            vdir = self.volume_dirs.get(mount["name"])
            if vdir is None:
                raise ConfigError(f'volume "{mount["name"]}" not found in the pod')
            src = vdir / mount["subPath"] if mount.get("subPath") else vdir
            ro = bool(mount.get("readOnly")) or mount["name"] in self._ro_volumes()
            volumes.append([str(src), mount["mountPath"], ro])
        token_dir = self.volume_dirs.get("__sa_token__")
        if token_dir is not None and SA_DIR not in mounted:
            volumes.append([str(token_dir), SA_DIR, True])
        if any(bind[1] == VENV_IN_IMAGE for bind in binds):
            # The venv's scripts name its own path in their #! lines. Mounted last, so that
            # a volume (an emptyDir on /tmp, say) cannot hide it wherever the checkout lives.
            volumes.append([str(VENV), str(VENV), True])
        return binds, volumes

    def _ro_volumes(self) -> set[str]:
        return {
            v["name"]
            for v in self.spec.get("volumes") or []
            if any(k in v for k in ("configMap", "secret", "projected", "downwardAPI"))
        }

    async def _container_env(self, container: dict) -> dict[str, str]:
        """env and envFrom resolved from the API, with `$(VAR)` expanded in order."""
        kube = self.node.kube
        env: dict[str, str] = {}
        services = self.node.service_env(self.ns, self.spec)
        cache: dict[tuple[str, str], dict | None] = {}

        async def fetch(plural: str, name: str) -> dict | None:
            if (plural, name) not in cache:
                cache[(plural, name)] = await kube.get("v1", plural, name, self.ns)
            return cache[(plural, name)]

        def decoded(obj: dict, plural: str) -> dict[str, str]:
            if plural == "secrets":
                data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
                data.update(obj.get("stringData") or {})
                return data
            return dict(obj.get("data") or {})

        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for ref_key, plural, kind in (
                ("configMapRef", "configmaps", "configmap"),
                ("secretRef", "secrets", "secret"),
            ):
                ref = source.get(ref_key)
                if not ref:
                    continue
                obj = await fetch(plural, ref["name"])
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'{kind} "{ref["name"]}" not found')
                for key, value in decoded(obj, plural).items():
                    env[prefix + key] = value
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = expand(item.get("value", ""), {**services, **env})
                continue
            vf = item["valueFrom"]
            value: str | None = None
            for ref_key, plural, kind in (
                ("secretKeyRef", "secrets", "Secret"),
                ("configMapKeyRef", "configmaps", "ConfigMap"),
            ):
                ref = vf.get(ref_key)
                if not ref:
                    continue
                obj = await fetch(plural, ref["name"])
                if obj is None:
                    if ref.get("optional"):
                        break
                    raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
                data = decoded(obj, plural)
                if ref["key"] not in data:
                    if ref.get("optional"):
                        break
                    raise ConfigError(
                        f"couldn't find key {ref['key']} in {kind} {self.ns}/{ref['name']}"
                    )
                value = data[ref["key"]]
            if "fieldRef" in vf:
                value = self._field(vf["fieldRef"]["fieldPath"])
            if "resourceFieldRef" in vf:
                value = self._resource_field(container, vf["resourceFieldRef"])
            if value is not None:
                env[name] = value
        return env

    def _field(self, path: str) -> str:
        meta = self.pod["metadata"]
        simple = {
            "metadata.name": self.name,
            "metadata.namespace": self.ns,
            "metadata.uid": self.uid,
            "spec.nodeName": self.spec.get("nodeName") or self.node.name,
            "spec.serviceAccountName": self.spec.get("serviceAccountName") or "default",
            "status.podIP": self.ip or "",
            "status.podIPs": self.ip or "",
            "status.hostIP": self.node.network.gateway_ip,
            "status.hostIPs": self.node.network.gateway_ip,
        }
        if path in simple:
            return simple[path]
        for prefix, source in (
            ("metadata.labels", meta.get("labels") or {}),
            ("metadata.annotations", meta.get("annotations") or {}),
        ):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return source.get(path[len(prefix) + 2 : -2], "")
        raise ConfigError(f"unsupported fieldPath {path}")

    @staticmethod
    def _resource_field(container: dict, ref: dict) -> str:
        resources = container.get("resources") or {}
        kind, _, res = ref["resource"].partition(".")
        value = (resources.get(kind) or {}).get(res) or (resources.get("limits") or {}).get(res)
        if value is None:
            return "0"
        return str(value)

    # ---- volumes ----------------------------------------------------------------------------

    def _automount(self) -> bool:
        if "automountServiceAccountToken" in self.spec:
            return bool(self.spec["automountServiceAccountToken"])
        return self.node._sa_automount.get(
            (self.ns, self.spec.get("serviceAccountName") or "default"), True
        )

    async def _prepare_volumes_until_ready(self) -> None:
        while True:
            try:
                await self._prepare_volumes()
                if self.reason == "FailedMount":
                    self.reason = self.message = ""
                return
            except MountError as exc:
                self.reason, self.message = "FailedMount", str(exc)
                for c in self.all_runs():
                    c.state = {"waiting": {"reason": "ContainerCreating"}}
                self.mark()
                await asyncio.sleep(1.0)

    async def _refresh_volumes(self) -> None:
        """configMap and secret volumes follow their objects, as the kubelet's sync does:
        woken by the node's watch of ConfigMaps and Secrets (`volume_sources`)."""
        while True:
            await self._volumes_changed.wait()
            await self.volume_sync.wait()
            await asyncio.sleep(0.05)
            self._volumes_changed.clear()
            with contextlib.suppress(MountError, ApiError, aiohttp.ClientError):
                await self._prepare_volumes()

    def volume_sources(self) -> set[tuple[str, str]]:
        """(plural, name) of the ConfigMaps and Secrets the pod's volumes show."""
        out = set()
        for volume in self.spec.get("volumes") or []:
            sources = [volume]
            sources += (volume.get("projected") or {}).get("sources") or []
            for src in sources:
                if "configMap" in src:
                    out.add(("configmaps", src["configMap"].get("name")))
                if "secret" in src:
                    ref = src["secret"]
                    out.add(("secrets", ref.get("secretName") or ref.get("name")))
        return out

    async def _prepare_volumes(self) -> None:
        kube = self.node.kube
        psc = self.pod_sc()
        fs_group = psc.get("fsGroup")
        base = self.dir / "volumes"
        sa = self.spec.get("serviceAccountName") or "default"
        if sa and (self.ns, sa) not in self.node._sa_automount:
            obj = await kube.get("v1", "serviceaccounts", sa, self.ns)
            if obj is not None and "automountServiceAccountToken" in obj:
                self.node._sa_automount[(self.ns, sa)] = bool(obj["automountServiceAccountToken"])

        async def source_data(kind: str, ref: dict) -> dict[str, bytes] | None:
            plural = "secrets" if kind == "secret" else "configmaps"
            name = ref.get("secretName") if kind == "secret" else ref.get("name")
            obj = await kube.get("v1", plural, name, self.ns)
            if obj is None:
                if ref.get("optional"):
                    return {}
                raise MountError(f'{kind} "{name}" not found')
            if kind == "secret":
                return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            return data

        async def token_files(audience_path: str = "token") -> dict[str, tuple[bytes, int]]:
            return {
                audience_path: (self.node.token_for(self.ns, sa, self.name).encode(), 0o644),
            }

        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            target = base / name
            if "emptyDir" in volume:
                if name not in self.volume_dirs:
                    target.mkdir(parents=True, exist_ok=True)
                    os.chmod(target, 0o777)
                    if fs_group is not None:
                        os.chown(target, 0, fs_group)
                        os.chmod(target, 0o2777)
                self.volume_dirs[name] = target
                continue
            files: dict[str, tuple[bytes, int]] | None = None
            if "configMap" in volume or "secret" in volume:
                kind = "configMap" if "configMap" in volume else "secret"
                ref = volume[kind]
                data = await source_data(kind.lower(), ref)
                files = project_items(
                    data or {},
                    ref.get("items"),
                    ref.get("defaultMode", 0o644),
                    name,
                    bool(ref.get("optional")),
                )
            elif "projected" in volume:
                proj = volume["projected"]
                mode = proj.get("defaultMode", 0o644)
                files = {}
                for src in proj.get("sources") or []:
                    if "serviceAccountToken" in src:
                        files.update(
                            await token_files(src["serviceAccountToken"].get("path", "token"))
                        )
                    for kind in ("configMap", "secret"):
                        if kind in src:
                            data = await source_data(kind.lower(), src[kind])
                            files.update(
                                project_items(
                                    data or {},
                                    src[kind].get("items"),
                                    mode,
                                    name,
                                    bool(src[kind].get("optional")),
                                )
                            )
                    if "downwardAPI" in src:
                        for item in src["downwardAPI"].get("items") or []:
                            files[item["path"]] = (
                                self._field(item["fieldRef"]["fieldPath"]).encode(),
                                item.get("mode", mode),
                            )
            elif "downwardAPI" in volume:
                files = {
                    item["path"]: (
                        self._field(item["fieldRef"]["fieldPath"]).encode(),
                        item.get("mode", volume["downwardAPI"].get("defaultMode", 0o644)),
                    )
                    for item in volume["downwardAPI"].get("items") or []
                }
            else:
                raise MountError(
                    f"volume {name}: this node supports configMap, secret, "
                    "emptyDir, projected and downwardAPI volumes"
                )
            version = json.dumps(
                {k: [v[0].decode("latin-1"), v[1]] for k, v in files.items()}, sort_keys=True
            )
            if self._volume_versions.get(name) != version:
                write_atomic(target, files, fs_group)
                self._volume_versions[name] = version
            self.volume_dirs[name] = target
        if self._automount():
            files = {
                "token": (self.node.token_for(self.ns, sa, self.name).encode(), 0o644),
                "ca.crt": (self.node.ca_bytes(), 0o644),
                "namespace": (self.ns.encode(), 0o644),
            }
            version = json.dumps({k: v[0].decode("latin-1") for k, v in files.items()})
            target = base / "__sa_token__"
            if self._volume_versions.get("__sa_token__") != version:
                write_atomic(target, files, fs_group)
                self._volume_versions["__sa_token__"] = version
            self.volume_dirs["__sa_token__"] = target

    # ---- probes -----------------------------------------------------------------------------

    async def _probes(self, run: ContainerRun) -> None:
        c = run.spec
        startup, readiness, liveness = (
            c.get("startupProbe"),
            c.get("readinessProbe"),
            c.get("livenessProbe"),
        )
        if startup:
            ok = await self._probe_until(run, startup, want=True)
            if not ok:
                await self._kill_for_probe(run, startup, "startup")
                return
        run.started = True
        if not readiness:
            run.ready = True
        self.mark()
        tasks = []
        if readiness:
            tasks.append(asyncio.create_task(self._readiness_loop(run, readiness)))
        if liveness:
            tasks.append(asyncio.create_task(self._liveness_loop(run, liveness)))
        try:
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            for t in tasks:
                t.cancel()

    async def _probe_until(self, run: ContainerRun, probe: dict, want: bool) -> bool:
        """Startup: True on its first success, False after failureThreshold failures."""
        state = ProbeState(probe, result=False)
        await asyncio.sleep(state.initial_delay)
        while True:
            state.record(await self.run_probe(run, probe))
            if state.result:
                return True
            if state.failed:
                return False
            await asyncio.sleep(state.period)

    async def _readiness_loop(self, run: ContainerRun, probe: dict) -> None:
        state = ProbeState(probe, result=False)
        await asyncio.sleep(state.initial_delay)
        while True:
            if state.record(await self.run_probe(run, probe)):
                run.ready = state.result
                self.mark()
            await asyncio.sleep(state.period)

    async def _liveness_loop(self, run: ContainerRun, probe: dict) -> None:
        state = ProbeState(probe, result=True)
        await asyncio.sleep(state.initial_delay)
        while True:
            state.record(await self.run_probe(run, probe))
            if not state.result:
                await self._kill_for_probe(run, probe, "liveness")
                return
            await asyncio.sleep(state.period)

    async def _kill_for_probe(self, run: ContainerRun, probe: dict, kind: str) -> None:
        self.node.log(f"{self.ns}/{self.name} {run.name}: {kind} probe failed, restarting")
        run.killed_by_probe = True
        grace = probe.get(
            "terminationGracePeriodSeconds", self.spec.get("terminationGracePeriodSeconds", 30)
        )
        await self.node.stop_process(run, grace)

    def _port(self, run: ContainerRun, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in run.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError(f"no port named {port}")

    async def run_probe(self, run: ContainerRun, probe: dict) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        try:
            if "httpGet" in probe:
                h = probe["httpGet"]
                scheme = (h.get("scheme") or "HTTP").lower()
                host = h.get("host") or self.ip
                url = f"{scheme}://{host}:{self._port(run, h['port'])}{h.get('path', '/')}"
                headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
                headers.setdefault("User-Agent", "kube-probe/1.31")
                ctx = ssl.create_default_context()
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                async with self.node.http.get(
                    url,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    ssl=ctx if scheme == "https" else False,
                    allow_redirects=False,
                ) as resp:
                    return 200 <= resp.status < 400
            if "tcpSocket" in probe:
                t = probe["tcpSocket"]
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(t.get("host") or self.ip, self._port(run, t["port"])),
                    timeout,
                )
                writer.close()
                return True
            if "exec" in probe:
                return await self._exec_probe(run, probe["exec"]["command"], timeout)
            if "grpc" in probe:
                return await self.run_probe(
                    run, {"tcpSocket": {"port": probe["grpc"]["port"]}, "timeoutSeconds": timeout}
                )
        except (OSError, TimeoutError, aiohttp.ClientError, ValueError):
            return False
        return False

    async def _exec_probe(self, run: ContainerRun, command: list[str], seconds: float) -> bool:
        if run.proc is None:
            return False
        ok, _ = await self.node.exec_in(run, command, seconds)
        return ok


class Node:
    def __init__(
        self,
        kube: KubeClient,
        network: Network,
        images: Images | None = None,
        api: Any = None,
        workdir: str | Path | None = None,
        *,
        name: str = "sim-node",
        backoff_scale: float = 1.0,
        dapr_options: dict[str, Any] | None = None,
    ) -> None:
        self.kube = kube
        self.network = network
        self.images = images or Images()
        self.api = api
        self.workdir = Path(workdir or f"/tmp/{network.run_id}-node")
        self.name = name
        self.backoff_scale = backoff_scale
        # Passed to dapr.inject (e.g. prefix=... for a run's Redis keys and queues).
        self.dapr_options = dapr_options or {}
        self.pods: dict[str, PodRun] = {}
        self.retired: list[PodRun] = []  # stopped pods, kept for their logs
        self.events: list[str] = []
        self._tasks: list[asyncio.Task] = []
        self._bg: set[asyncio.Task] = set()
        self._sa_automount: dict[tuple[str, str], bool] = {}
        self._tokens: dict[tuple[str, str, str], str] = {}
        self.http: aiohttp.ClientSession | None = None
        self.launcher = self.workdir / "launch.py"

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def log(self, line: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {line}")

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.launcher.write_text(LAUNCHER)
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        self._tasks.append(asyncio.create_task(self._watch()))
        for plural in ("configmaps", "secrets"):
            self._tasks.append(asyncio.create_task(self._watch_sources(plural)))

    async def stop(self, grace: float = 5.0) -> None:
        await cancel_all(self._tasks)
        await asyncio.gather(
            *(self._terminate(p, min(grace, self._grace(p))) for p in list(self.pods.values())),
            return_exceptions=True,
        )
        self.pods.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None

    # ---- tokens, certificates, service links ----------------------------------------------

    def token_for(self, ns: str, sa: str, pod: str) -> str:
        """The ServiceAccount's token from the API server (`api.issue_token`), bound to the
        pod (as projected tokens are); a failure is the kubelet's FailedMount (the pod waits
        in ContainerCreating)."""
        if (ns, sa, pod) not in self._tokens:
            issue = getattr(self.api, "issue_token", None)
            try:
                self._tokens[(ns, sa, pod)] = (
                    issue(ns, sa, pod) if issue else f"sim-token:{ns}:{sa}"
                )
            except Exception as exc:
                raise MountError(
                    f'failed to fetch token for serviceaccount "{ns}/{sa}": {exc}'
                ) from exc
        return self._tokens[(ns, sa, pod)]

    def ca_bytes(self) -> bytes:
        ca = getattr(self.api, "ca_path", None)
        return Path(ca).read_bytes() if ca else b""

    def service_env(self, ns: str, pod_spec: dict) -> dict[str, str]:
        """The Docker-links variables the kubelet sets: the `kubernetes` Service always,
        the namespace's Services unless enableServiceLinks is false."""
        env: dict[str, str] = {}
        services = [
            ((n, s), o)
            for (n, s), o in self.network.services.items()
            if (n == "default" and s == "kubernetes")
            or (n == ns and pod_spec.get("enableServiceLinks", True))
        ]
        for (_, name), svc in sorted(services):
            ip = self.network.cluster_ip(svc["metadata"]["namespace"], name)
            ports = (svc.get("spec") or {}).get("ports") or []
            if not ip or not ports:
                continue
            prefix = name.upper().replace("-", "_")
            env[f"{prefix}_SERVICE_HOST"] = ip
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
            for p in ports:
                proto = (p.get("protocol") or "TCP").upper()
                if p.get("name"):
                    env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(
                        p["port"]
                    )
                base = f"{prefix}_PORT_{p['port']}_{proto}"
                env[base] = f"{proto.lower()}://{ip}:{p['port']}"
                env[f"{base}_PROTO"] = proto.lower()
                env[f"{base}_PORT"] = str(p["port"])
                env[f"{base}_ADDR"] = ip
            first = ports[0]
            env[f"{prefix}_PORT"] = (
                f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first['port']}"
            )
        return env

    # ---- watching pods ---------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                async for kind, pod in self.kube.watch("v1", "pods"):
                    await self._on_pod(kind, pod)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log(f"pod watch: {exc}")
                await asyncio.sleep(0.5)

    async def _watch_sources(self, plural: str) -> None:
        """A changed ConfigMap or Secret: the pods showing it as a volume rewrite it."""
        while True:
            try:
                async for _kind, obj in self.kube.watch("v1", plural):
                    key = (plural, obj["metadata"]["name"])
                    ns = obj["metadata"].get("namespace")
                    for run in list(self.pods.values()):
                        if run.ns == ns and key in run.volume_sources():
                            run._volumes_changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log(f"{plural} watch: {exc}")
                await asyncio.sleep(0.5)

    async def _on_pod(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        run = self.pods.get(uid)
        if kind == "DELETED":
            if run is not None:
                self._background(self._terminate(run, self._grace(run)))
            return
        if run is None:
            if pod["metadata"].get("deletionTimestamp"):
                return
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return
            run = PodRun(self, pod)
            self.pods[uid] = run
            run.task = asyncio.create_task(run.run())
            return
        run.pod["metadata"] = pod["metadata"]
        self.network.pod_updated(run.pod)
        if pod["metadata"].get("deletionTimestamp") and not run.terminating:
            grace = pod["metadata"].get("deletionGracePeriodSeconds", self._grace(run))
            self._background(self._terminate(run, grace, finalize=True))

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def _grace(self, run: PodRun) -> float:
        return float(run.spec.get("terminationGracePeriodSeconds", 30))

    async def _terminate(self, run: PodRun, grace: float, finalize: bool = False) -> None:
        if run.terminating:
            return
        run.terminating = True
        for c in run.containers:
            c.ready = False
        await asyncio.gather(
            *(self.stop_process(c, grace) for c in run.all_runs()), return_exceptions=True
        )
        if run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.task
        await self.network.detach_pod(run.uid)
        self.pods.pop(run.uid, None)
        if finalize:
            with contextlib.suppress(ApiError, aiohttp.ClientError):
                await self.kube.delete("v1", "pods", run.name, run.ns, grace_period_seconds=0)
        self.retired.append(run)

    async def stop_process(self, run: ContainerRun, grace: float) -> None:
        """SIGTERM to the container's process, SIGKILL to its group after `grace`."""
        proc = run.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)

    async def exec_in(
        self, run: ContainerRun, command: list[str], seconds: float = 10
    ) -> tuple[bool, str]:
        """Run a command in a running container (its namespaces, root, cwd and user)."""
        if run.proc is None or run.proc.returncode is not None or not run.execed:
            return False, "container not running"
        pid = run.proc.pid
        # The container's process is setpriv's exec: the pid keeps its uid/gid.
        status = Path(f"/proc/{pid}/status").read_text()  # noqa: ASYNC240 - procfs
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        gid = next(line.split()[1] for line in status.splitlines() if line.startswith("Gid:"))
        groups = next(
            (line.split()[1:] for line in status.splitlines() if line.startswith("Groups:")), []
        )
        env = {}
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/environ").read_bytes()  # noqa: ASYNC240 - procfs
            env = dict(
                e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e
            )
        proc = await asyncio.create_subprocess_exec(
            "nsenter",
            "-t",
            str(pid),
            "-n",
            "-m",
            "-u",
            "-r",
            "-w",
            "--",
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            f"--groups={','.join(groups)}" if groups else "--clear-groups",
            "--",
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env or None,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return False, "timeout"
        return proc.returncode == 0, out.decode(errors="replace")

    # ---- what tests read -------------------------------------------------------------------

    def find(self, namespace: str, pod: str) -> PodRun | None:
        for run in [*self.pods.values(), *reversed(self.retired)]:
            if run.ns == namespace and run.name == pod:
                return run
        return None

    def container(self, namespace: str, pod: str, container: str) -> ContainerRun | None:
        run = self.find(namespace, pod)
        if run is None:
            return None
        return next((c for c in run.all_runs() if c.name == container), None)

    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False
    ) -> str:
        run = self.find(namespace, pod)
        if run is None:
            return ""
        if container is None:
            container = run.containers[0].name if run.containers else ""
        c = next((c for c in run.all_runs() if c.name == container), None)
        if c is None or c.log_dir is None:
            return ""
        attempt = c.attempt - 1 if previous else c.attempt
        path = c.log_dir / f"{attempt}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def describe_failures(self, tail: int = 40) -> str:
        """Pods not Ready, with their containers' states and last log lines."""
        out = []
        for run in list(self.pods.values()):
            if run.phase == "Succeeded" or (
                run.containers and all(c.ready for c in run.containers)
            ):
                continue
            out.append(
                f"pod {run.ns}/{run.name} phase={run.phase} ip={run.ip}"
                + (f" {run.reason}: {run.message}" if run.reason else "")
            )
            for c in run.all_runs():
                out.append(
                    f"  container {c.name}{' (init)' if c.init else ''}: ready={c.ready} "
                    f"restarts={c.restart_count} state={json.dumps(c.state)}"
                )
                if c.last_state:
                    out.append(f"    last state: {json.dumps(c.last_state)}")
                for prev in (True, False):
                    text = self.logs(run.ns, run.name, c.name, previous=prev)
                    if text and (not prev or c.restart_count):
                        lines = text.splitlines()[-tail:]
                        out.append(f"    --- {'previous' if prev else 'current'} log ---")
                        out += [f"    | {line}" for line in lines]
        if self.events:
            out.append("node events:")
            out += [f"  {e}" for e in self.events[-30:]]
        return "\n".join(out)
