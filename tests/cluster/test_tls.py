"""TLS on shop Ingresses, on the cluster: the chart is installed with a TLS Secret for the
shops' hosts (`operator.tls.secretName`), and the https URL a Shop's status gives answers,
with the certificate checked for the shop's host."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx
import pytest

from tests.cluster.conftest import Platform, eventually, example
from tests.cluster.test_shop_journey import apply, shop_status, wait_ready

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1800),
    pytest.mark.asyncio(loop_scope="session"),
]


async def test_the_https_url_in_a_shops_status_answers(platform: Platform, slug: str) -> None:
    if not platform.tls_entry:
        pytest.skip("a real cluster: its ingress controller and certificates are its own")
    documents = example("shop.yaml", slug=slug)
    await apply(platform, documents)
    await wait_ready(platform, slug)
    url = urlsplit((await shop_status(platform, slug))["url"])
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    assert (url.scheme, url.hostname) == ("https", shop["spec"]["hosts"][0])

    trusted = ssl.create_default_context(cafile=str(platform.tls_ca))
    # The shopper's browser: the shop's host resolves to the ingress, SNI and Host name it.
    async with httpx.AsyncClient(
        base_url=platform.tls_entry, verify=trusted, headers={"host": url.hostname}, timeout=60
    ) as client:

        async def catalog() -> httpx.Response | None:
            try:
                response = await client.get(
                    f"{url.path}/products", extensions={"sni_hostname": url.hostname}
                )
            except httpx.ConnectError:  # the ingress has not read the Ingress's tls yet
                return None
            return response if response.status_code == 200 else None

        answer = await eventually(catalog, "the shop's catalog over https", platform=platform)
        assert answer.json()["items"] == []
    # A name no Ingress's tls has gets no certificate (a new connection: its own handshake).
    async with httpx.AsyncClient(base_url=platform.tls_entry, verify=trusted) as other:
        with pytest.raises(httpx.ConnectError):
            await other.get(f"{url.path}/products", extensions={"sni_hostname": "evil.example"})
