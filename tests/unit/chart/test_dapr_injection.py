"""The chart's pods through the simulated cluster's Dapr injector: every annotation is one
Dapr knows, and each sidecar gets exactly the Components its app-id is scoped to, loadable
by the double (no unknown metadata keys)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import pytest
import yaml

from shopfleet.devtools.sidecar_double.resources import parse_component, unknown_key_warnings
from tests.integration.dapr.kube_fake import FakeKube
from tests.support.cluster.dapr import RESOURCES_DIR, inject, unknown_annotations
from tests.unit.chart.conftest import NAMESPACE, Rendered


@pytest.mark.parametrize("store", ["redis", "postgresql"])
async def test_every_chart_pod_gets_its_scoped_components(
    render: Callable[..., Rendered], store: str
) -> None:
    rendered = render({"dapr": {"components": {"enabled": True, "stateStore": store}}})
    kube = FakeKube([o for o in rendered.objects if o["apiVersion"].startswith(("dapr.io", "v1"))])
    components = rendered.of_kind("Component")
    injected = 0
    for deployment in rendered.of_kind("Deployment"):
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**template["metadata"], "name": "p", "namespace": NAMESPACE},
            "spec": template["spec"],
        }
        containers = await inject(pod, kube)
        if not containers:
            continue
        injected += 1
        assert unknown_annotations(pod) == [], deployment["metadata"]["name"]
        [sidecar] = containers
        args = sidecar["args"]
        app_id = args[args.index("--app-id") + 1]
        expected = sorted(
            c["metadata"]["name"] for c in components if app_id in (c.get("scopes") or [app_id])
        )
        got = []
        for path, text in sidecar["files"].items():
            name = PurePosixPath(path).name
            if path.startswith(RESOURCES_DIR) and name.startswith("components-"):
                spec = parse_component(yaml.safe_load(text))
                assert unknown_key_warnings(spec) == []
                assert not any(item.secret_ref for item in spec.items), "resolved as the operator"
                got.append(spec.name)
        assert sorted(got) == expected, app_id
    assert injected >= 2
