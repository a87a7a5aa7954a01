"""The double's `secretstores.kubernetes`: Secrets read through a Kubernetes API over HTTPS
with the pod's ServiceAccount token (as daprd's in-cluster client), `secretKeyRef`s of other
components resolved through `auth.secretStore`, and the Configuration's secret scopes
applied to the app's secrets API."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from dapr.proto import api_service_v1, api_v1

from shopfleet.devtools.sidecar_double.errors import ComponentLoadError
from shopfleet.devtools.sidecar_double.resources import Resources, parse_component, secret_policies
from tests.support.sidecar_double import AMQP_URL, DoubleRun, require_backends
from tests.support.tls import self_signed

TOKEN = "pod-token-of-payments"
NAMESPACE = "shop-acme"


def _tls(folder: Path) -> tuple[Path, Path, Path]:
    cert, key = self_signed(folder, "server", common_name="kubernetes")
    return cert, key, cert


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SECRETS = {
    "shop-acme": {"stripe_api_key": "sk_test_acme"},
    "shop-other": {"stripe_api_key": "sk_test_other"},
    "connections": {"rabbitmq-url": AMQP_URL},
}


@pytest.fixture
async def kube_api(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A Kubernetes API that serves Secrets of one namespace to one token, over TLS."""
    cert, key, ca = _tls(tmp_path)
    seen: list[str] = []

    async def get_secret(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        ns, name = request.match_info["ns"], request.match_info["name"]
        if ns != NAMESPACE or name not in SECRETS:
            status = {"kind": "Status", "code": 404, "message": f'secrets "{name}" not found'}
            return web.json_response(status, status=404)
        data = {k: _b64(v) for k, v in SECRETS[name].items()}
        return web.json_response({"kind": "Secret", "metadata": {"name": name}, "data": data})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/secrets/{name}", get_secret)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(TOKEN)
    (sa / "ca.crt").write_bytes(ca.read_bytes())
    yield str(port), sa
    await runner.cleanup()


def _resources() -> Resources:
    secretstore = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "secretstore"},
        "spec": {"type": "secretstores.kubernetes", "version": "v1", "metadata": []},
    }
    pubsub = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": {
            "type": "pubsub.rabbitmq",
            "version": "v1",
            "metadata": [
                {
                    "name": "connectionString",
                    "secretKeyRef": {"name": "connections", "key": "rabbitmq-url"},
                },
                {"name": "durable", "value": "true"},
            ],
        },
        "auth": {"secretStore": "secretstore"},
    }
    return Resources(components=[parse_component(secretstore), parse_component(pubsub)])


CONFIGURATION = {
    "spec": {
        "secrets": {
            "scopes": [
                {"storeName": "kubernetes", "defaultAccess": "deny"},
                {
                    "storeName": "secretstore",
                    "defaultAccess": "deny",
                    "allowedSecrets": ["shop-acme"],
                },
            ]
        }
    }
}


async def test_secrets_come_from_the_api_with_the_pods_token_within_the_policy(
    kube_api: tuple[str, Path],
) -> None:
    require_backends()
    port, sa = kube_api
    run = DoubleRun()
    try:
        double = await run.start(
            "payments",
            resources=_resources(),
            kubernetes_mode=True,
            namespace=NAMESPACE,
            serviceaccount_dir=sa,
            environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port},
            secret_policies=secret_policies(CONFIGURATION),
        )
        # the pub/sub's connection string came through `secretstore`, from the API
        assert double.component_types["pubsub"] == ("pubsub.rabbitmq", "v1")
        async with grpc.aio.insecure_channel(double.grpc_address) as channel:
            stub = api_service_v1.DaprStub(channel)
            answer = await stub.GetSecret(
                api_v1.GetSecretRequest(store_name="secretstore", key="shop-acme")
            )
            assert dict(answer.data) == {"stripe_api_key": "sk_test_acme"}
            for store, key in (("secretstore", "shop-other"), ("kubernetes", "shop-acme")):
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await stub.GetSecret(api_v1.GetSecretRequest(store_name=store, key=key))
                assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await run.cleanup()


async def test_a_wrong_token_means_no_secrets_and_no_sidecar(
    kube_api: tuple[str, Path],
) -> None:
    require_backends()
    port, sa = kube_api
    (sa / "token").write_text("someone-elses-token")
    run = DoubleRun()
    try:
        with pytest.raises(ComponentLoadError, match=r"process component pubsub error.*401"):
            await run.start(
                "payments",
                resources=_resources(),
                kubernetes_mode=True,
                namespace=NAMESPACE,
                serviceaccount_dir=sa,
                environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port},
            )
    finally:
        run.doubles.clear()  # it never started
        await run.cleanup()
