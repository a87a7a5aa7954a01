"""The Shop CRD: generated from the pydantic models, structural, validating what it says."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shopfleet_operator.crd import ShopSpec, crd_manifest, crd_yaml

SPEC = {
    "displayName": "Acme",
    "hosts": ["acme.example.com"],
    "admin": {"email": "admin@example.com", "passwordSecretRef": {"name": "acme", "key": "pw"}},
}


def walk(node: Any, path: str = "") -> list[tuple[str, dict]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key in ("properties",):
            for name, sub in (node.get(key) or {}).items():
                found += walk(sub, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            found += walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            found += walk(node["additionalProperties"], f"{path}{{}}")
    return found


def schema() -> dict:
    return crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_the_schema_is_structural() -> None:
    for path, node in walk(schema()):
        assert "type" in node, f"{path} has no type"
        assert not {"$ref", "anyOf", "oneOf", "allOf", "$defs", "title"} & node.keys(), path
        assert node.get("additionalProperties") is not False, path
        assert "uniqueItems" not in node, path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path == ".metadata", path


def test_the_crd_names_and_columns() -> None:
    crd = crd_manifest()
    assert crd["metadata"]["name"] == "shops.shopfleet.io"
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["shop"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Tier",
        "Ready",
        "URL",
        "Age",
    ]


def test_the_schema_validates_what_the_model_validates() -> None:
    spec = schema()["properties"]["spec"]["properties"]
    assert spec["tier"]["enum"] == ["shared", "dedicated"]
    assert "EUR" in spec["currency"]["enum"] and "XXX" not in spec["currency"]["enum"]
    assert spec["hosts"]["items"]["pattern"].startswith("^[a-z0-9]")
    quotas = spec["quotas"]["properties"]
    assert all(q["minimum"] >= 0 for q in quotas.values())
    assert spec["deletionPolicy"]["enum"] == ["Retain", "Delete"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hosts": ["Not A Host"]}, "hosts"),
        ({"hosts": ["a.example.com", "a.example.com"]}, "hosts"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"tier": "premium"}, "tier"),
        ({"quotas": {"products": -1}}, "quotas"),
        ({"admin": {"email": "nope", "passwordSecretRef": {"name": "a", "key": "b"}}}, "admin"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "resources"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_a_bad_spec_is_refused_with_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ShopSpec.model_validate({**SPEC, **change})
    assert field in str(caught.value)


def test_defaults() -> None:
    spec = ShopSpec.model_validate(SPEC)
    assert (spec.tier, spec.currency, spec.state_store, spec.deletion_policy) == (
        "shared",
        "EUR",
        "redis",
        "Retain",
    )
    assert spec.suspended is False


def test_the_module_prints_the_crd_as_yaml() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "shopfleet_operator.crd"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == crd_yaml()
    assert yaml.safe_load(printed) == crd_manifest()
