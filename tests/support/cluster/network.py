"""The cluster network: a bridge, a network namespace per pod, Service IPs, names, policies.

    network = Network(kube, api_port=api.port)
    await network.start()              # bridge, CIDRs, the `kubernetes` Service
    # or: Network() / start() (gateway_ip, kubernetes_ip known: put them in the API
    # server's certificate) / connect(kube, api_port) once the API server serves
    ip = await network.attach_pod(pod) # the node: a netns + veth + IP for a pod
    network.netns_path(uid)            # /run/netns/<name>, for nsenter
    network.etc_dir(uid)               # hosts, resolv.conf, hostname of that pod
    network.forward_host_port(5432)    # gateway_ip:5432 -> 127.0.0.1:5432
    network.service_address("shop", "cart", 80) -> (ip, port) of a ready endpoint
    await network.stop()               # every netns, veth, bridge and rule of the run

Everything is named after a run id (`sf<6 hex>`), and the pod CIDR (a /24) is chosen per
run among those no route of the machine uses, so runs side by side, or left over by a
killed run, never collide. A run's leftovers (its owner pid is gone) are removed by the
next start. The Service CIDR is kube's default 10.96.0.0/16 for every run: virtual IPs
exist only in the pods' own nftables tables, never on the machine.

Inside each pod's netns one nftables table (`ip sf`) does what kube-proxy and a CNI's
policy agent do on a real node:

- `svc` (nat, output): each Service virtual IP and port → DNAT to one of its ready
  endpoints (random), rewritten whenever Endpoints change. Done in the client's own
  netns, so a pod reaching itself through its Service needs no hairpin;
- `out` (filter, output): a virtual IP with no ready endpoint is refused (TCP reset), as
  kube-proxy does; then egress NetworkPolicy, if one selects the pod with `Egress`;
- `in` (filter, input): ingress NetworkPolicy, if one selects the pod with `Ingress`.
  Traffic from the node (the bridge address: the kubelet's probes) is always allowed, as
  Kubernetes specifies.

Names are /etc/hosts (see `hosts_for`): there is no cluster DNS server. resolv.conf's
nameserver is 127.0.0.1 in the pod's own netns, where nothing listens: a name that is not a
Service fails at once. So egress policies never affect name resolution here, where on a
real cluster a policy with `Egress` must allow port 53 to kube-dns.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import shutil
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cluster.background import cancel_all
from tests.support.cluster.client import KubeClient
from tests.support.cluster.selectors import selector_matches

STATE_DIR = Path("/run/shopfleet-sim")
SERVICE_CIDR = "10.96.0.0/16"  # kube-apiserver's default --service-cluster-ip-range
CLUSTER_DOMAIN = "cluster.local"


def _run(*args: str, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


async def _arun(*args: str, check: bool = True, input: str | None = None) -> str:
    return await asyncio.to_thread(_run, *args, check=check, input=input)


def _used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for route in json.loads(_run("ip", "-j", "route") or "[]"):
        dst = route.get("dst")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", False))
    return nets


def _free_cidr(taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for _ in range(500):
        net = ipaddress.ip_network(f"10.{random.randint(64, 127)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return net
    raise RuntimeError("no free /24 in 10.64.0.0/10")


def cleanup_stale() -> None:
    """Remove the netns, links and state of runs whose owner process is gone."""
    if not STATE_DIR.exists():
        return
    for state in STATE_DIR.glob("*.json"):
        try:
            info = json.loads(state.read_text())
            os.kill(info["pid"], 0)
            continue
        except ProcessLookupError:
            pass
        except (ValueError, KeyError, OSError):
            pass
        run_id = state.stem
        _teardown(run_id)
        state.unlink(missing_ok=True)


def _teardown(run_id: str) -> None:
    for line in _run("ip", "netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(run_id + "-"):
            _run("ip", "netns", "del", name, check=False)
    for link in json.loads(_run("ip", "-j", "link", check=False) or "[]"):
        if link.get("ifname", "").startswith(run_id):
            _run("ip", "link", "del", link["ifname"], check=False)
    shutil.rmtree(STATE_DIR / run_id, ignore_errors=True)


@dataclass
class PodNet:
    uid: str
    namespace: str
    name: str
    netns: str
    veth: str
    ip: str
    etc: Path
    ruleset: str = ""
    hosts: str = ""


@dataclass
class _Forwarder:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    servers: list = field(default_factory=list)


class Network:
    def __init__(
        self,
        kube: KubeClient | None = None,
        *,
        api_port: int | None = None,
        run_id: str | None = None,
        pod_cidr: str | None = None,
        service_cidr: str | None = None,
    ) -> None:
        self.kube = kube
        self.api_port = api_port
        self.run_id = run_id or "sf" + os.urandom(3).hex()
        self._pod_cidr = pod_cidr
        self._service_cidr = service_cidr
        self.bridge = f"{self.run_id}br"
        self.pods: dict[str, PodNet] = {}
        self._next_index = 0
        self._pod_ips: list[str] = []
        self._vips: dict[tuple[str, str], str] = {}
        # What the watches keep: (ns, name) -> object
        self.services: dict[tuple[str, str], dict] = {}
        self.endpoints: dict[tuple[str, str], dict] = {}
        self.policies: dict[tuple[str, str], dict] = {}
        self.namespaces: dict[str, dict] = {}
        self.pod_objs: dict[str, dict] = {}  # uid -> pod
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._forwarder: _Forwarder | None = None
        self._lock = asyncio.Lock()
        self.started = False
        self.errors: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Network:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await asyncio.to_thread(cleanup_stale)
        # Virtual IPs exist only in the pods' nftables, so every run may use kube's default
        # Service CIDR; pod CIDRs are routed on the machine: one of its own per run.
        self.service_cidr = ipaddress.ip_network(self._service_cidr or SERVICE_CIDR)
        taken = [*await asyncio.to_thread(_used_networks), self.service_cidr]
        self.pod_cidr = ipaddress.ip_network(self._pod_cidr or str(_free_cidr(taken)))
        hosts = list(self.pod_cidr.hosts())
        self.gateway_ip = str(hosts[0])
        self._pod_ips = [str(h) for h in hosts[1:]]
        self.kubernetes_ip = str(next(self.service_cidr.hosts()))
        # Ours for Services the API server left without a clusterIP: the upper half, out
        # of the way of an API server that allocates from the bottom.
        upper = list(self.service_cidr.subnets(prefixlen_diff=1))[-1]
        self._vip_pool = [str(h) for h in upper.hosts()][:4096]
        STATE_DIR.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once per run
        (STATE_DIR / self.run_id).mkdir(exist_ok=True)
        (STATE_DIR / f"{self.run_id}.json").write_text(
            json.dumps({"pid": os.getpid(), "pod_cidr": str(self.pod_cidr)})
        )
        await _arun("ip", "link", "add", self.bridge, "type", "bridge")
        await _arun(
            "ip", "addr", "add", f"{self.gateway_ip}/{self.pod_cidr.prefixlen}", "dev", self.bridge
        )
        await _arun("ip", "link", "set", self.bridge, "up")
        self.started = True
        if self.kube is not None:
            await self.connect()

    async def connect(self, kube: KubeClient | None = None, api_port: int | None = None) -> None:
        """Start following the API (Services, Endpoints, policies, ...) and publish the API
        server as the `kubernetes` Service. Separate from `start` so that the API server can
        be started after the bridge, with `gateway_ip` and `kubernetes_ip` in its
        certificate."""
        self.kube = kube or self.kube
        self.api_port = api_port or self.api_port
        if self.api_port:
            await self._kubernetes_service()
        for api_version, plural in (
            ("v1", "services"),
            ("v1", "endpoints"),
            ("v1", "namespaces"),
            ("v1", "pods"),
            ("networking.k8s.io/v1", "networkpolicies"),
        ):
            self._tasks.append(asyncio.create_task(self._watch(api_version, plural)))
        self._tasks.append(asyncio.create_task(self._sync_loop()))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self._forwarder is not None:
            fwd = self._forwarder
            for server in fwd.servers:
                fwd.loop.call_soon_threadsafe(server.close)
            fwd.loop.call_soon_threadsafe(fwd.loop.stop)
            fwd.thread.join(timeout=5)
            self._forwarder = None
        if self.started:
            await asyncio.to_thread(_teardown, self.run_id)
            (STATE_DIR / f"{self.run_id}.json").unlink(missing_ok=True)
            self.started = False

    # ---- the API server as the `kubernetes` Service --------------------------------------

    async def _kubernetes_service(self) -> None:
        self.forward_host_port(self.api_port)
        existing = await self.kube.get("v1", "services", "kubernetes", "default")
        if existing and (existing.get("spec") or {}).get("clusterIP"):
            self.kubernetes_ip = existing["spec"]["clusterIP"]  # the API server's own
        self._vips[("default", "kubernetes")] = self.kubernetes_ip
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": self.kubernetes_ip,
                "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.api_port}
                ],
            },
        }
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [{"ip": self.gateway_ip}],
                    "ports": [{"name": "https", "port": self.api_port, "protocol": "TCP"}],
                }
            ],
        }
        if existing is None:
            await self.kube.create(service)
        else:  # spec.clusterIP is immutable: only the port
            await self.kube.patch(
                "v1",
                "services",
                "kubernetes",
                {"spec": {"ports": service["spec"]["ports"]}},
                namespace="default",
            )
        await self.kube.apply(endpoints)

    # ---- pods --------------------------------------------------------------------------------

    def netns_path(self, uid: str) -> str:
        return f"/run/netns/{self.pods[uid].netns}"

    def etc_dir(self, uid: str) -> Path:
        return self.pods[uid].etc

    def pod_ip(self, uid: str) -> str | None:
        pod = self.pods.get(uid)
        return pod.ip if pod else None

    async def attach_pod(self, pod: dict) -> str:
        """A netns with a veth on the bridge and an IP; rules and names in place."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if uid in self.pods:
            return self.pods[uid].ip
        async with self._lock:
            index = self._next_index
            self._next_index += 1
            ip = self._pod_ips.pop(0)
        netns = f"{self.run_id}-{index}"
        veth = f"{self.run_id}h{index}"
        peer = f"{self.run_id}p{index}"
        etc = STATE_DIR / self.run_id / netns
        etc.mkdir(parents=True, exist_ok=True)
        plen = self.pod_cidr.prefixlen
        script = f"""
set -e
ip netns add {netns}
ip link add {veth} type veth peer name {peer}
ip link set {peer} netns {netns}
ip link set {veth} master {self.bridge} up
ip -n {netns} link set {peer} name eth0
ip -n {netns} addr add {ip}/{plen} dev eth0
ip -n {netns} link set eth0 up
ip -n {netns} link set lo up
ip -n {netns} route add default via {self.gateway_ip}
ip netns exec {netns} sysctl -qw net.ipv4.ip_unprivileged_port_start=0 \
  "net.ipv4.ping_group_range=0 2147483647"
"""
        await _arun("sh", "-c", script)
        net = PodNet(uid, meta["namespace"], meta["name"], netns, veth, ip, etc)
        self.pods[uid] = net
        self.pod_objs[uid] = pod
        hostname = (pod.get("spec") or {}).get("hostname") or meta["name"]
        (etc / "hostname").write_text(hostname[:63] + "\n")
        (etc / "resolv.conf").write_text(
            f"search {net.namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} "
            f"{CLUSTER_DOMAIN}\nnameserver 127.0.0.1\noptions ndots:5 timeout:1 attempts:1\n"
        )
        (etc / "hosts").write_text("")
        await self._apply_pod(net)
        return ip

    async def detach_pod(self, uid: str) -> None:
        net = self.pods.pop(uid, None)
        self.pod_objs.pop(uid, None)
        if net is None:
            return
        await _arun("ip", "netns", "del", net.netns, check=False)
        await _arun("ip", "link", "del", net.veth, check=False)
        shutil.rmtree(net.etc, ignore_errors=True)
        self._pod_ips.append(net.ip)
        self._dirty.set()

    def pod_updated(self, pod: dict) -> None:
        """The node tells of a pod's new labels or status."""
        uid = pod["metadata"]["uid"]
        if uid in self.pods:
            self.pod_objs[uid] = pod
            self._dirty.set()

    # ---- forwarders to the machine's services ------------------------------------------

    def forward_host_port(self, port: int, target_host: str = "127.0.0.1") -> None:
        """gateway_ip:port -> target_host:port, served by a thread of its own (so a busy
        test loop never stalls the pods' database connections). Already reachable (a
        server bound to 0.0.0.0): nothing to do."""
        if self._forwarder is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True, name="sim-forward")
            thread.start()
            self._forwarder = _Forwarder(loop, thread)
        fwd = self._forwarder

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(target_host, port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def serve() -> None:
            server = await asyncio.start_server(handle, self.gateway_ip, port, reuse_address=True)
            fwd.servers.append(server)

        future = asyncio.run_coroutine_threadsafe(serve(), fwd.loop)
        try:
            future.result(timeout=5)
        except OSError as exc:
            if exc.errno != 98:  # EADDRINUSE: something serves that address already
                raise

    # ---- for the test process --------------------------------------------------------------

    def cluster_ip(self, namespace: str, name: str) -> str | None:
        return self._vips.get((namespace, name))

    def service_address(self, namespace: str, name: str, port: int | str | None = None):
        """(ip, port) of a ready endpoint of the Service's port (number or name): the test
        process reaches pods directly on the bridge."""
        service = self.services.get((namespace, name))
        endpoints = self.endpoints.get((namespace, name))
        if service is None or endpoints is None:
            raise LookupError(f"no Service {namespace}/{name} with endpoints")
        sports = (service.get("spec") or {}).get("ports") or []
        wanted = None
        for sp in sports:
            if port is None or sp.get("port") == port or sp.get("name") == port:
                wanted = sp
                break
        if wanted is None:
            raise LookupError(f"Service {namespace}/{name} has no port {port}")
        for subset in endpoints.get("subsets") or []:
            for ep in subset.get("ports") or []:
                if (ep.get("name") or "") == (wanted.get("name") or "") and subset.get("addresses"):
                    return random.choice(subset["addresses"])["ip"], ep["port"]
        raise LookupError(f"Service {namespace}/{name} has no ready endpoint")

    # ---- watches --------------------------------------------------------------------------

    async def _watch(self, api_version: str, plural: str) -> None:
        while True:
            try:
                async for kind, obj in self.kube.watch(api_version, plural):
                    self._record(plural, kind, obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)

    def _record(self, plural: str, kind: str, obj: dict) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace"), meta["name"])
        if plural == "pods":
            uid = meta.get("uid")
            if uid in self.pods and kind != "DELETED":
                self.pod_objs[uid] = obj
            self._dirty.set()
            return
        store = {
            "services": self.services,
            "endpoints": self.endpoints,
            "networkpolicies": self.policies,
        }.get(plural)
        if plural == "namespaces":
            if kind == "DELETED":
                self.namespaces.pop(meta["name"], None)
            else:
                self.namespaces[meta["name"]] = obj
            self._dirty.set()
            return
        assert store is not None
        if kind == "DELETED":
            store.pop(key, None)
            if plural == "services" and key in self._vips and key != ("default", "kubernetes"):
                self._vip_pool.append(self._vips.pop(key))
        else:
            store[key] = obj
            if plural == "services":
                self._allocate_vip(key, obj)
        self._dirty.set()

    def _allocate_vip(self, key: tuple[str, str], service: dict) -> None:
        spec = service.get("spec") or {}
        cip = spec.get("clusterIP")
        if cip == "None" or spec.get("type") == "ExternalName":
            return
        if cip:
            self._vips[key] = cip
            return
        if key not in self._vips:
            self._vips[key] = self._vip_pool.pop(0)
        # As the real API server's allocator does, the address shows in the spec.
        asyncio.get_running_loop().create_task(self._write_cluster_ip(key, self._vips[key]))

    async def _write_cluster_ip(self, key: tuple[str, str], ip: str) -> None:
        with contextlib.suppress(Exception):
            await self.kube.patch(
                "v1",
                "services",
                key[1],
                {"spec": {"clusterIP": ip, "clusterIPs": [ip]}},
                namespace=key[0],
            )

    async def _sync_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.03)  # coalesce a burst of events
            self._dirty.clear()
            nets = list(self.pods.values())
            results = await asyncio.gather(
                *(self._apply_pod(net) for net in nets), return_exceptions=True
            )
            failed = [
                (net, r)
                for net, r in zip(nets, results, strict=True)
                if isinstance(r, Exception) and net.uid in self.pods
            ]
            if failed:  # a pod still attached whose rules did not apply: try again
                self.errors.append(f"{failed[0][0].netns}: {failed[0][1]}")
                await asyncio.sleep(0.5)
                self._dirty.set()

    async def sync_now(self) -> None:
        await asyncio.gather(*(self._apply_pod(net) for net in list(self.pods.values())))

    async def _apply_pod(self, net: PodNet) -> None:
        hosts = self.hosts_for(net)
        if hosts != net.hosts:
            path = net.etc / "hosts"
            # In place: the file is bind-mounted into the pod, a rename would not show.
            with open(path, "r+" if path.exists() else "w") as f:  # noqa: ASYNC230 - tiny
                f.write(hosts)
                f.truncate()
            net.hosts = hosts
        ruleset = self.ruleset_for(net)
        if ruleset != net.ruleset and net.uid in self.pods:
            await _arun(
                "ip",
                "netns",
                "exec",
                net.netns,
                "nft",
                "-f",
                "-",
                input="table ip sf\ndelete table ip sf\n" + ruleset,
            )
            net.ruleset = ruleset

    # ---- names ---------------------------------------------------------------------------

    def hosts_for(self, net: PodNet) -> str:
        pod = self.pod_objs.get(net.uid) or {}
        spec = pod.get("spec") or {}
        hostname = spec.get("hostname") or net.name
        own = [hostname]
        if spec.get("subdomain"):
            own.append(f"{hostname}.{spec['subdomain']}.{net.namespace}.svc.{CLUSTER_DOMAIN}")
        lines = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            f"{net.ip}\t{' '.join(own)}",
        ]
        for (ns, name), service in sorted(self.services.items()):
            names = [f"{name}.{ns}.svc.{CLUSTER_DOMAIN}", f"{name}.{ns}.svc", f"{name}.{ns}"]
            if ns == net.namespace:
                names.append(name)
            vip = self._vips.get((ns, name))
            if vip:
                lines.append(f"{vip}\t{' '.join(names)}")
            elif (service.get("spec") or {}).get("clusterIP") == "None":
                for ip in self._ready_ips(ns, name):
                    lines.append(f"{ip}\t{' '.join(names)}")
        return "\n".join(lines) + "\n"

    def _ready_ips(self, ns: str, name: str) -> list[str]:
        eps = self.endpoints.get((ns, name)) or {}
        return sorted({a["ip"] for s in eps.get("subsets") or [] for a in s.get("addresses") or []})

    # ---- rules ---------------------------------------------------------------------------

    def ruleset_for(self, net: PodNet) -> str:
        nat: list[str] = []
        reject: list[str] = []
        for (ns, name), service in sorted(self.services.items()):
            vip = self._vips.get((ns, name))
            if not vip:
                continue
            eps = self.endpoints.get((ns, name)) or {}
            for sp in (service.get("spec") or {}).get("ports") or []:
                proto = (sp.get("protocol") or "TCP").lower()
                if proto not in ("tcp", "udp"):
                    continue
                targets = []
                for subset in eps.get("subsets") or []:
                    for ep in subset.get("ports") or []:
                        if (ep.get("name") or "") != (sp.get("name") or ""):
                            continue
                        for addr in subset.get("addresses") or []:
                            targets.append(f"{addr['ip']} . {ep['port']}")
                match = f"ip daddr {vip} {proto} dport {sp['port']}"
                if targets:
                    targets = sorted(set(targets))
                    table = ", ".join(f"{i} : {t}" for i, t in enumerate(targets))
                    nat.append(
                        f"{match} dnat to numgen random mod {len(targets)} map {{ {table} }}"
                    )
                else:
                    how = "tcp reset" if proto == "tcp" else "icmp type port-unreachable"
                    reject.append(f"{match} reject with {how}")
        ingress, egress = self._policy_rules(net)
        out = [*reject, f"ip daddr {self.service_cidr} reject with icmp type net-unreachable"]
        chains = [
            "table ip sf {",
            "  chain svc {",
            "    type nat hook output priority -100; policy accept;",
            *(f"    {r}" for r in nat),
            "  }",
            "  chain out {",
            "    type filter hook output priority 0; policy accept;",
            *(f"    {r}" for r in out),
        ]
        if egress is not None:
            chains += [
                "    ct state established,related accept",
                '    oif "lo" accept',
                *(f"    {r}" for r in egress),
                "    drop",
            ]
        chains += [
            "  }",
            "  chain in {",
            "    type filter hook input priority 0; policy accept;",
        ]
        if ingress is not None:
            chains += [
                "    ct state established,related accept",
                '    iif "lo" accept',
                f"    ip saddr {self.gateway_ip} accept",
                *(f"    {r}" for r in ingress),
                "    drop",
            ]
        chains += ["  }", "}", ""]
        return "\n".join(chains)

    def _ns_labels(self, ns: str) -> dict:
        obj = self.namespaces.get(ns) or {}
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", ns)
        return labels

    def _pods_with_ips(self) -> Iterable[tuple[str, dict, str]]:
        for uid, net in self.pods.items():
            pod = self.pod_objs.get(uid)
            if pod is not None:
                yield net.namespace, pod, net.ip

    def _peer_ips(self, peer: dict, policy_ns: str, dir: str) -> tuple[list[str], str | None]:
        """IPs a `from`/`to` peer names, or an ipBlock's match expression."""
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            expr = f"ip {dir}addr {block['cidr']}"
            if block.get("except"):
                expr += f" ip {dir}addr != {{ {', '.join(block['except'])} }}"
            return [], expr
        pod_sel = peer.get("podSelector")
        ns_sel = peer.get("namespaceSelector")
        ips = []
        for ns, pod, ip in self._pods_with_ips():
            if ns_sel is not None:
                if not selector_matches(ns_sel, self._ns_labels(ns)):
                    continue
            elif ns != policy_ns:
                continue
            if pod_sel is not None and not selector_matches(pod_sel, pod["metadata"].get("labels")):
                continue
            ips.append(ip)
        return ips, None

    def _port_matches(self, ports: list[dict] | None, pods: list[dict]) -> list[str]:
        """nft matches for a rule's ports ([""] = any port). Named ports resolve against
        `pods`' container ports (the pod itself for ingress, every pod for egress)."""
        if not ports:
            return [""]
        out = []
        for p in ports:
            proto = (p.get("protocol") or "TCP").lower()
            port = p.get("port")
            if port is None:
                out.append(f"meta l4proto {proto}")
                continue
            if isinstance(port, str) and not port.isdigit():
                numbers = sorted(
                    {
                        cp["containerPort"]
                        for pod in pods
                        for c in (pod.get("spec") or {}).get("containers") or []
                        for cp in c.get("ports") or []
                        if cp.get("name") == port and (cp.get("protocol") or "TCP").lower() == proto
                    }
                )
                out += [f"{proto} dport {n}" for n in numbers]  # none: matches nothing
                continue
            port = int(port)
            if p.get("endPort"):
                out.append(f"{proto} dport {port}-{int(p['endPort'])}")
            else:
                out.append(f"{proto} dport {port}")
        return out

    def _policy_rules(self, net: PodNet) -> tuple[list[str] | None, list[str] | None]:
        pod = self.pod_objs.get(net.uid) or {"metadata": {"labels": {}}}
        labels = pod["metadata"].get("labels") or {}
        ingress: list[str] | None = None
        egress: list[str] | None = None
        for (ns, _name), policy in sorted(self.policies.items()):
            if ns != net.namespace:
                continue
            spec = policy.get("spec") or {}
            if not selector_matches(spec.get("podSelector") or {}, labels):
                continue
            types = spec.get("policyTypes") or (
                ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
            )
            if "Ingress" in types:
                ingress = ingress or []
                for rule in spec.get("ingress") or []:
                    ingress += self._rule_lines(rule.get("from"), rule.get("ports"), ns, [pod], "s")
            if "Egress" in types:
                egress = egress or []
                everyone = list(self.pod_objs.values())
                for rule in spec.get("egress") or []:
                    egress += self._rule_lines(rule.get("to"), rule.get("ports"), ns, everyone, "d")
        return ingress, egress

    def _rule_lines(
        self,
        peers: list[dict] | None,
        ports: list[dict] | None,
        ns: str,
        pods: list[dict],
        dir: str,
    ) -> list[str]:
        port_exprs = self._port_matches(ports, pods)
        if not port_exprs:
            return []
        sources: list[str] = []
        if not peers:
            sources = [""]
        else:
            for peer in peers:
                ips, expr = self._peer_ips(peer, ns, dir)
                if expr:
                    sources.append(expr)
                elif ips:
                    sources.append(f"ip {dir}addr {{ {', '.join(sorted(set(ips)))} }}")
        lines = []
        for src in sources:
            for port in port_exprs:
                rule = " ".join(x for x in (src, port) if x)
                lines.append(f"{rule} accept" if rule else "accept")
        return lines
