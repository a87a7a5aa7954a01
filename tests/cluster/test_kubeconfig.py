"""The real-cluster path reads a kubeconfig as kubectl does: checked against the simulated
cluster's own kubeconfig, with its CA as a file and inline (kind writes it inline)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import Platform, kubeconfig_client

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]


def with_inline_ca(kubeconfig: Path, target: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = Path(cluster.pop("certificate-authority")).read_bytes()
    cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    target.write_text(yaml.safe_dump(config))
    return target


async def test_a_kubeconfig_signs_in_with_its_token_and_trusts_its_ca(
    platform: Platform, tmp_path: Path
) -> None:
    if platform.simulated is None:
        pytest.skip("the real cluster's kubeconfig is what the tier already uses")
    inline = with_inline_ca(platform.simulated.kubeconfig, tmp_path / "inline.yaml")
    for path in (platform.simulated.kubeconfig, inline):
        async with kubeconfig_client(str(path)) as kube:
            names = {n["metadata"]["name"] for n in await kube.list("v1", "namespaces")}
        assert {"default", "shopfleet"} <= names
