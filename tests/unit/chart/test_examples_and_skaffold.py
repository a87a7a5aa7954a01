"""examples/ (Shop manifests and their Secrets) and skaffold.yaml: valid, and consistent
with the CRD, the operator's model and the chart they are used with."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shopfleet.kit.auth import SHOP_SLUG_PATTERN
from shopfleet_operator.crd import ShopSpec, crd_manifest
from tests.unit.chart.conftest import CHART, ROOT

EXAMPLES = ROOT / "examples"
SHOP_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
SCHEMA = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def the_shop(name: str) -> dict[str, Any]:
    (shop,) = [d for d in docs(EXAMPLES / name) if d["kind"] == "Shop"]
    return shop


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would silently prune (not in the structural schema)."""
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(sub, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def test_the_three_tiers_are_shown() -> None:
    assert {"shop.yaml", "shop-dedicated.yaml", "shop-suspended.yaml"} <= set(SHOP_FILES)
    assert the_shop("shop.yaml")["spec"]["tier"] == "shared"
    assert not the_shop("shop.yaml")["spec"].get("suspended", False)
    assert the_shop("shop-dedicated.yaml")["spec"]["tier"] == "dedicated"
    assert the_shop("shop-suspended.yaml")["spec"]["suspended"] is True


@pytest.mark.parametrize("name", SHOP_FILES)
def test_each_shop_is_valid_against_the_crd_and_the_operators_model(name: str) -> None:
    shop = the_shop(name)
    assert shop["apiVersion"] == "shopfleet.io/v1alpha1"
    jsonschema.validate(shop, SCHEMA)  # the openAPIV3Schema the API server enforces
    assert unknown_fields(shop, SCHEMA) == []
    assert re.match(SHOP_SLUG_PATTERN, shop["metadata"]["name"])  # the CRD's CEL rule
    assert "namespace" not in shop["metadata"]  # applied with -n, next to its Secrets
    ShopSpec.model_validate(shop["spec"])  # what the operator accepts


@pytest.mark.parametrize("name", SHOP_FILES)
def test_each_secret_a_shop_refers_to_is_in_the_same_file(name: str) -> None:
    secrets = {d["metadata"]["name"]: d for d in docs(EXAMPLES / name) if d["kind"] == "Secret"}
    spec = ShopSpec.model_validate(the_shop(name)["spec"])
    refs = [spec.admin.password_secret_ref]
    refs += [r for r in (spec.payments.stripe_secret_ref, spec.payments.webhook_secret_ref) if r]
    for ref in refs:
        assert ref.key in secrets[ref.name]["stringData"], f"{ref.name}/{ref.key}"
    admin = spec.admin.password_secret_ref
    assert len(secrets[admin.name]["stringData"][admin.key]) >= 10  # identity's minimum


@pytest.mark.parametrize("name", SHOP_FILES)
def test_the_standard_objects_are_valid_kubernetes(name: str) -> None:
    for doc in docs(EXAMPLES / name):
        if doc["kind"] != "Shop":
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_an_invalid_shop_is_refused_by_the_schema() -> None:
    # The check above has teeth: the CRD's schema rejects what the API server would.
    shop = copy.deepcopy(the_shop("shop.yaml"))
    shop["spec"]["tier"] = "premium"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(shop, SCHEMA)
    shop = copy.deepcopy(the_shop("shop.yaml"))
    shop["spec"]["quotas"]["requestz"] = 1
    assert unknown_fields(shop, SCHEMA) == [".spec.quotas.requestz"]


def test_the_examples_readme_walks_through_every_file() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for name in SHOP_FILES:
        assert f"examples/{name}" in readme
    for shop in SHOP_FILES:
        assert f"/shops/{the_shop(shop)['metadata']['name']}/api/v1" in readme


# ---- skaffold.yaml --------------------------------------------------------------------

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def json_patch_add(doc: dict[str, Any], path: str, value: Any) -> None:
    """RFC 6902 `add`, as skaffold applies a profile's patches (the parent must exist)."""
    *parents, last = path.strip("/").split("/")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value


def test_skaffold_config_version_and_build() -> None:
    assert re.fullmatch(r"skaffold/v4beta\d+", SKAFFOLD["apiVersion"])
    assert SKAFFOLD["kind"] == "Config"
    (artifact,) = SKAFFOLD["build"]["artifacts"]
    assert (ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()


def test_skaffold_deploys_the_chart_with_the_built_image() -> None:
    (artifact,) = SKAFFOLD["build"]["artifacts"]
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]).resolve() == CHART
    key = re.sub(r"[^A-Za-z0-9]", "_", artifact["image"])  # how skaffold names the variables
    assert release["setValueTemplates"] == {
        "image.repository": f"{{{{.IMAGE_REPO_{key}}}}}",
        "image.tag": f"{{{{.IMAGE_TAG_{key}}}}}",
    }


def test_skaffold_port_forwards_the_rendered_gateway(render: Any) -> None:
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    rendered = render(namespace=release["namespace"], release=release["name"])
    (forward,) = SKAFFOLD["portForward"]
    assert forward["resourceType"] == "service"
    service = rendered.get("Service", forward["resourceName"])
    assert forward["namespace"] == service["metadata"]["namespace"]
    assert forward["port"] == service["spec"]["ports"][0]["port"]
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
    assert forward["localPort"] == 8080  # the port the README and examples use


def test_the_kind_profile_loads_images_and_brings_data_stores() -> None:
    (profile,) = [p for p in SKAFFOLD["profiles"] if p["name"] == "kind"]
    (activation,) = profile["activation"]
    assert re.fullmatch(activation["kubeContext"], "kind-kind")  # kind's context names
    assert not re.fullmatch(activation["kubeContext"], "gke_prod_europe-west1_shops")
    patched = copy.deepcopy(SKAFFOLD)
    for patch in profile["patches"]:
        assert patch["op"] == "add"
        json_patch_add(patched, patch["path"], patch["value"])
    assert patched["build"]["local"]["push"] is False  # kind: images are loaded, not pushed
    values = patched["deploy"]["helm"]["releases"][0]["setValues"]
    assert values["backing.enabled"] == "true"
    assert values["image.pullPolicy"] == "IfNotPresent"
