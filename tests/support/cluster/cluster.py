"""`SimulatedCluster`: the API server, controllers, a node, the network and an ingress,
started and stopped together (README.md).

    async with SimulatedCluster(workdir) as cluster:
        cluster.kube            # a cluster-admin client (KubeClient)
        cluster.ingress.url     # http://127.0.0.1:<port>; send the shop's host in `Host`
        cluster.kubeconfig      # an admin kubeconfig file (for the Helm SDK, kubectl)
        cluster.node.describe_failures()   # pods that are not Ready, with their logs
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster.apiserver import ApiServer
from tests.support.cluster.client import KubeClient
from tests.support.cluster.controllers import Controllers
from tests.support.cluster.image import Images
from tests.support.cluster.ingress import Ingress
from tests.support.cluster.network import Network
from tests.support.cluster.node import Node

# The machine's own data stores, reached from pods at the bridge address.
HOST_SERVICES = {
    "postgresql": 5432,
    "redis": 6379,
    "rabbitmq": 5672,
    "rabbitmq-management": 15672,
}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
KUBERNETES_NAMES = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
]


class SimulatedCluster:
    def __init__(self, workdir: Path, *, backoff_scale: float = 0.25) -> None:
        self.workdir = Path(workdir)
        self.backoff_scale = backoff_scale
        self.api = ApiServer()
        self._stack = contextlib.AsyncExitStack()
        self.kube: KubeClient
        self.network: Network
        self.node: Node
        self.controllers: Controllers
        self.ingress: Ingress
        self.kubeconfig: Path

    async def __aenter__(self) -> SimulatedCluster:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The bridge first: the API server's certificate names its address and the
        # `kubernetes` Service's virtual IP, as a real cluster's serving certificate does.
        self.network = Network()
        await self.network.start()
        self._stack.push_async_callback(self.network.stop)
        await self._stack.enter_async_context(
            self.api.serving(
                host="0.0.0.0",
                port=0,
                san_ips=[self.network.gateway_ip, self.network.kubernetes_ip, "127.0.0.1"],
                san_names=KUBERNETES_NAMES,
            )
        )
        self.kube = await self._stack.enter_async_context(
            KubeClient(self.api.url, token=self.api.admin_token, ca_path=self.api.ca_path)
        )
        self.kubeconfig = self._write_kubeconfig()
        for name in SYSTEM_NAMESPACES:
            await self.kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        await self.network.connect(self.kube, api_port=self.api.port)
        for port in HOST_SERVICES.values():
            self.network.forward_host_port(port)
        self.controllers = await self._stack.enter_async_context(Controllers(self.kube))
        self.node = Node(
            self.kube,
            self.network,
            Images(),
            self.api,
            self.workdir / "node",
            backoff_scale=self.backoff_scale,
            dapr_options={"prefix": f"{self.network.run_id}."},
        )
        await self.node.start()
        self._stack.push_async_callback(self.node.stop)
        self.ingress = await self._stack.enter_async_context(
            Ingress(
                self._ingresses,
                self._object("services"),
                self._object("endpoints"),
                get_secret=self._object("secrets"),
            )
        )

    @property
    def host_address(self) -> str:
        """Where pods reach the machine's PostgreSQL, Redis and RabbitMQ."""
        return self.network.gateway_ip

    def _write_kubeconfig(self) -> Path:
        path = self.workdir / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "simulated",
                    "clusters": [
                        {
                            "name": "simulated",
                            "cluster": {
                                "server": self.api.url,
                                "certificate-authority": str(self.api.ca_path),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.api.admin_token}}],
                    "contexts": [
                        {"name": "simulated", "context": {"cluster": "simulated", "user": "admin"}}
                    ],
                }
            )
        )
        path.chmod(0o600)
        return path

    async def _ingresses(self) -> list[dict[str, Any]]:
        return await self.kube.list("networking.k8s.io/v1", "ingresses")

    def _object(self, plural: str) -> Any:
        async def get(namespace: str, name: str) -> dict[str, Any] | None:
            return await self.kube.get("v1", plural, name, namespace=namespace)

        return get
