"""The chart's Dapr resources are the repository's components/, filled in for the release."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.unit.chart.conftest import CHART, NAMESPACE, ROOT, Rendered

COMPONENTS = ROOT / "components"
FILES = CHART / "files" / "dapr"
FULLNAME = "shopfleet"


def component_files() -> list[str]:
    return sorted(p.name for p in COMPONENTS.glob("*.yaml"))


def test_the_chart_carries_exactly_the_components_files() -> None:
    assert component_files(), "components/ has no YAML"
    assert sorted(p.name for p in FILES.glob("*.yaml")) == component_files()
    for name in component_files():
        assert (FILES / name).read_bytes() == (COMPONENTS / name).read_bytes(), (
            f"charts/shopfleet/files/dapr/{name} differs from components/{name}: "
            "copy it (cp components/*.yaml charts/shopfleet/files/dapr/)"
        )


def expected(name: str, rendered_secret: str, redis_host: str) -> dict[str, Any]:
    """components/<name> as the chart must render it for this release."""
    doc = copy.deepcopy(yaml.safe_load((COMPONENTS / name).read_text()))
    doc["metadata"]["namespace"] = NAMESPACE
    for item in doc["spec"].get("metadata") or []:
        if "secretKeyRef" in item:
            item["secretKeyRef"]["name"] = rendered_secret
        if item["name"] == "redisHost":
            item["value"] = redis_host
    for policy in (doc["spec"].get("accessControl") or {}).get("policies", []):
        policy["namespace"] = NAMESPACE  # callers of the release's namespace
    return doc


@pytest.mark.parametrize("store", ["redis", "postgresql"])
def test_rendered_resources_equal_the_components(render: Any, store: str) -> None:
    rendered = render({"dapr": {"components": {"stateStore": store}}})
    dapr = [o for o in rendered.objects if o["apiVersion"].startswith("dapr.io/")]
    names = [f for f in component_files() if not f.startswith("statestore-")]
    names.append(f"statestore-{store}.yaml")
    assert len(dapr) == len(names)
    for name in names:
        want = expected(name, f"{FULLNAME}-connections", f"redis-master.{NAMESPACE}.svc:6379")
        got = copy.deepcopy(rendered.get(want["kind"], want["metadata"]["name"]))
        labels = got["metadata"].pop("labels")
        assert labels["app.kubernetes.io/part-of"] == "shopfleet"
        assert got == want, name


def test_the_release_specific_parts_are_filled_in(render: Any) -> None:
    rendered = render(
        {
            "connections": {"existingSecret": "data-stores"},
            "redis": {"host": "redis.data.svc:6380", "auth": False, "enableTLS": True},
            "dapr": {"otlpEndpoint": "collector.tracing.svc:4317"},
        }
    )
    state = {i["name"]: i for i in rendered.get("Component", "statestore")["spec"]["metadata"]}
    assert state["redisHost"]["value"] == "redis.data.svc:6380"
    assert state["enableTLS"]["value"] == "true"
    assert "redisPassword" not in state  # a Redis without auth gets no AUTH
    pubsub = rendered.get("Component", "pubsub")["spec"]["metadata"]
    (url,) = [i for i in pubsub if i["name"] == "connectionString"]
    assert url["secretKeyRef"] == {"name": "data-stores", "key": "rabbitmq-url"}
    otel = rendered.get("Configuration", "shopfleet")["spec"]["tracing"]["otel"]
    assert otel["endpointAddress"] == "collector.tracing.svc:4317"


def test_a_wrong_state_store_is_refused(helm: Any) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError) as refused:
        chart.render({"dapr": {"components": {"stateStore": "mongodb"}}}, name="x", namespace="y")
    assert "stateStore" in str(refused.value)
    assert "'redis', 'postgresql'" in str(refused.value)


def test_dapr_references_resolve(render: Any) -> None:
    rendered: Rendered = render({"backing": {"enabled": True}})
    secrets = rendered.secret_data()
    apps = {
        d["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]: d
        for d in rendered.of_kind("Deployment")
        if "dapr.io/app-id" in (d["spec"]["template"]["metadata"].get("annotations") or {})
    }
    for component in rendered.of_kind("Component"):
        for item in component["spec"]["metadata"]:
            if "secretKeyRef" in item:
                ref = item["secretKeyRef"]
                assert ref["key"] in secrets[ref["name"]], f"{component['metadata']['name']}: {ref}"
        assert set(component["scopes"]) <= set(apps), component["metadata"]["name"]
    resiliency = rendered.get("Resiliency", "shopfleet")
    assert set(resiliency["spec"]["targets"]["apps"]) <= set(apps)
    components = {c["metadata"]["name"] for c in rendered.of_kind("Component")}
    assert set(resiliency["spec"]["targets"]["components"]) <= components
    for app_id, deployment in apps.items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert rendered.get("Configuration", annotations["dapr.io/config"]), app_id


def test_components_can_be_left_out(render: Any) -> None:
    rendered = render({"dapr": {"components": {"enabled": False}}})
    assert [o for o in rendered.objects if o["apiVersion"].startswith("dapr.io/")] == []
