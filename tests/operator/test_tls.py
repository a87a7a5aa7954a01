"""TLS on shop Ingresses: with a certificate issuer or Secret the Ingresses carry `tls`
(validated by the API server against the Kubernetes schemas) and the status URLs say
https; without, no `tls` and http."""

from __future__ import annotations

import pytest

from tests.operator.conftest import PLATFORM_NS, Operator, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition
from tests.support.cluster.apiserver import ApiServer

INGRESSES = "networking.k8s.io/v1/ingresses"
HOSTS = ["acme.example.com", "www.acme.example.com"]


async def reconciled(api: ApiServer, operator: Operator) -> tuple[dict, list[dict]]:
    """The Shop's status and its Ingresses, once the operator has written them."""
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme", hosts=HOSTS))
    async with operator.running():
        await eventually(lambda: condition(api, "acme", "RoutesReady"))
    ingresses = [api.obj(INGRESSES, PLATFORM_NS, f"shop-acme-{host}") for host in HOSTS]
    return api.obj(SHOPS, PLATFORM_NS, "acme")["status"], ingresses


async def test_without_tls_the_urls_say_http(api: ApiServer, operator: Operator) -> None:
    status, ingresses = await reconciled(api, operator)
    assert status["url"] == "http://acme.example.com/api/v1"
    assert status["endpoints"]["www.acme.example.com"] == "http://www.acme.example.com/api/v1"
    assert [i["spec"].get("tls") for i in ingresses] == [None, None]


@pytest.mark.parametrize(
    ("setting", "annotation"),
    [
        ("TLS_CLUSTER_ISSUER", "cert-manager.io/cluster-issuer"),
        ("TLS_ISSUER", "cert-manager.io/issuer"),
    ],
)
async def test_a_cert_manager_issuer_gets_each_host_a_certificate(
    api: ApiServer,
    operator: Operator,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    annotation: str,
) -> None:
    monkeypatch.setenv(f"SHOPFLEET_OPERATOR_{setting}", "letsencrypt")
    status, ingresses = await reconciled(api, operator)
    assert status["url"] == "https://acme.example.com/api/v1"
    assert status["endpoints"]["www.acme.example.com"] == "https://www.acme.example.com/api/v1"
    for host, ingress in zip(HOSTS, ingresses, strict=True):
        assert ingress["metadata"]["annotations"] == {annotation: "letsencrypt"}
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": f"shop-acme-{host}-tls"}]


async def test_an_existing_secret_serves_every_host(
    api: ApiServer, operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLEET_OPERATOR_TLS_SECRET", "shops-wildcard-tls")
    status, ingresses = await reconciled(api, operator)
    assert status["url"] == "https://acme.example.com/api/v1"
    for host, ingress in zip(HOSTS, ingresses, strict=True):
        assert not ingress["metadata"].get("annotations")
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "shops-wildcard-tls"}]


async def test_tls_turned_off_leaves_no_certificate_behind(
    api: ApiServer, operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLEET_OPERATOR_TLS_CLUSTER_ISSUER", "letsencrypt")
    _, ingresses = await reconciled(api, operator)
    assert all(i["spec"]["tls"] for i in ingresses)

    # The chart upgraded without TLS: the operator restarts with no TLS setting.
    monkeypatch.delenv("SHOPFLEET_OPERATOR_TLS_CLUSTER_ISSUER")
    async with operator.running():
        await eventually(
            lambda: api.obj(SHOPS, PLATFORM_NS, "acme")["status"]["url"].startswith("http:")
        )
        settled = api.count
        await eventually(lambda: api.count > settled + 40)  # drift checks: nothing to patch
    for host in HOSTS:
        ingress = api.obj(INGRESSES, PLATFORM_NS, f"shop-acme-{host}")
        assert "tls" not in ingress["spec"]
        assert not ingress["metadata"].get("annotations")
    assert [w for w in api.writes(settled) if "/ingresses/" in w] == []
