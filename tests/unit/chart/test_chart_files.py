"""The chart's static files: metadata, values, and the CRD copy (no rendering needed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shopfleet.gateway.proxy import AREAS
from shopfleet.services import SERVICES
from shopfleet_operator.crd import crd_manifest

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "shopfleet"

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def load(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def test_chart_yaml_is_a_helm3_application_chart():
    chart = load(CHART / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "shopfleet" == CHART.name
    assert chart["type"] == "application"
    assert SEMVER.match(chart["version"]), chart["version"]
    assert chart["appVersion"]
    assert chart["description"]


def test_app_version_is_the_distributions_version():
    chart = load(CHART / "Chart.yaml")
    project = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in project


def test_values_parse_and_name_every_part():
    values = load(CHART / "values.yaml")
    assert isinstance(values, dict)
    for key in ("image", "gateway", "services", "operator", "dapr", "platform", "postgres"):
        assert key in values, f"values.yaml has no {key}"
    assert values["dapr"]["components"]["stateStore"] in ("redis", "postgresql")
    assert values["operator"]["enabled"] is True
    names = [svc["name"] for svc in values["services"]]
    assert len(names) == len(set(names)), f"a service is listed twice: {names}"
    for svc in values["services"]:
        assert svc["replicas"] >= 1
        assert svc["resources"]["requests"], f"{svc['name']} has no resource requests"
        assert svc["resources"]["limits"]["memory"], f"{svc['name']} has no memory limit"


def test_every_registered_service_is_deployed_and_every_deployed_one_is_routed():
    values = load(CHART / "values.yaml")
    deployed = {svc["name"] for svc in values["services"]}
    missing = set(SERVICES) - deployed
    assert not missing, f"registered in services.py but not in the chart's values: {missing}"
    unknown = deployed - set(SERVICES) - set(AREAS.values())
    assert not unknown, f"in the chart but neither registered nor routed by the gateway: {unknown}"


def test_the_charts_crd_is_the_generated_one():
    copy = load(CHART / "crds" / "shop.yaml")
    assert copy == crd_manifest(), (
        "charts/shopfleet/crds/shop.yaml is stale; regenerate it with "
        "`python -m shopfleet_operator.crd` (see charts/README.md)"
    )


def test_only_crds_are_in_crds():
    # Helm installs crds/ verbatim (never templated, never upgraded): keep only CRDs there,
    # the Shop's and kopf's peering resources.
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == ["kopf-peering.yaml", "shop.yaml"]
    for path in (CHART / "crds").iterdir():
        kinds = {doc["kind"] for doc in yaml.safe_load_all(path.read_text()) if doc}
        assert kinds == {"CustomResourceDefinition"}, path
