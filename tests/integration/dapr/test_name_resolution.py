"""Kubernetes name resolution between doubles (`--name-resolution kubernetes`): `<app-id>`
in the caller's namespace and `<app-id>.<ns>` reach `<app-id>-dapr.<ns>.svc.cluster.local`
on the internal port, where the target's double applies its access control to the caller's
app-id and namespace. DNS is faked here (both doubles on loopback addresses); in the
simulated cluster the pods' resolver answers."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI, Request

from shopfleet.devtools.sidecar_double.access import AccessControl
from tests.support.sidecar_double import AppServer, DoubleRun


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_app_ids_resolve_to_the_dapr_service_of_their_namespace(
    double_run: DoubleRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI()

    @app.get("/internal/ping")
    async def ping(request: Request) -> dict[str, Any]:
        return {"caller": request.headers.get("dapr-caller-app-id")}

    target_app = await AppServer(app).start()
    internal = _free_port()  # the port every sidecar listens on for peers (50002 in pods)
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    names = {"cart-dapr.shop-acme.svc.cluster.local": "127.0.0.1"}

    async def fake_dns(host: str, *args: Any, **kwargs: Any) -> Any:
        if host.endswith(".svc.cluster.local"):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = names[host]
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", fake_dns)
    policy = AccessControl.from_document(
        {
            "spec": {
                "accessControl": {
                    "defaultAction": "deny",
                    "policies": [
                        {"appId": "gateway", "namespace": "shopfleet", "defaultAction": "allow"}
                    ],
                }
            }
        }
    )
    common = {
        "name_resolution": "kubernetes",
        "internal_port": internal,
        "peer_secret": "trust",
        "pubsubs": (),
    }
    try:
        await double_run.start(
            "cart",
            host="127.0.0.1",
            namespace="shop-acme",
            app_port=target_app.port,
            access_control=policy,
            **common,
        )
        caller = await double_run.start(
            "gateway", host="127.0.0.2", namespace="shopfleet", **common
        )
        async with aiohttp.ClientSession() as http:
            base = f"{caller.http_url}/v1.0/invoke"
            async with http.get(f"{base}/cart.shop-acme/method/internal/ping") as r:
                assert r.status == 200, await r.text()
                assert await r.json() == {"caller": "gateway"}
            # `cart` alone is the caller's namespace (shopfleet): no such Service
            async with http.get(f"{base}/cart/method/internal/ping") as r:
                assert r.status == 500
                assert (await r.json())["errorCode"] == "ERR_DIRECT_INVOKE"
        # the same caller from another namespace is refused by the target's policy
        names["cart-dapr.elsewhere.svc.cluster.local"] = "127.0.0.1"
        intruder = await double_run.start(
            "gateway", host="127.0.0.3", namespace="elsewhere", **common
        )
        async with aiohttp.ClientSession() as http:
            url = f"{intruder.http_url}/v1.0/invoke/cart.shop-acme/method/internal/ping"
            async with http.get(url) as r:
                assert r.status == 403
    finally:
        await target_app.stop()
