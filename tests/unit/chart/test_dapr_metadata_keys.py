"""Every Dapr component we ship, read by the sidecar double's component loader as daprd
reads it: a metadata key the real component never reads is a setting that silently does
nothing (daprd ignores it), so any unknown key fails here (issue 13, defect 9).

Covered: components/*.yaml, the chart's rendered Components (either state store), and the
per-shop components the operator builds (shared and dedicated tier, either state store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shopfleet.devtools.sidecar_double.resources import (
    SUPPORTED_TYPES,
    documents,
    parse_component,
    unknown_key_warnings,
)
from tests.unit.chart.conftest import ROOT, Rendered

COMPONENTS = ROOT / "components"


def _check(docs: list[tuple[str, dict[str, Any]]]) -> None:
    warnings = []
    for source, doc in docs:
        spec = parse_component(doc, source)
        assert spec.type in SUPPORTED_TYPES, f"{source}: the double cannot load {spec.type}"
        warnings += [f"{source}: {w}" for w in unknown_key_warnings(spec)]
    assert not warnings, "\n".join(warnings)


def test_components_folder_has_no_unknown_metadata_keys() -> None:
    docs = []
    for path in sorted(COMPONENTS.glob("*.yaml")):
        docs += [
            (f"components/{path.name}", doc)
            for doc in documents(path.read_text(), str(path))
            if doc.get("kind") == "Component"
        ]
    assert docs
    _check(docs)


@pytest.mark.parametrize("store", ["redis", "postgresql"])
def test_rendered_chart_components_have_no_unknown_metadata_keys(
    render: Callable[..., Rendered], store: str
) -> None:
    rendered = render({"dapr": {"components": {"enabled": True, "stateStore": store}}})
    docs = [
        (f"chart ({store}) {rendered.sources.get('Component/' + c['metadata']['name'])}", c)
        for c in rendered.of_kind("Component")
    ]
    assert docs
    _check(docs)


@pytest.mark.parametrize("tier", ["shared", "dedicated"])
@pytest.mark.parametrize("store", ["redis", "postgresql"])
def test_operator_per_shop_components_have_no_unknown_metadata_keys(tier: str, store: str) -> None:
    from shopfleet_operator.build.accounts import TenantAccount
    from shopfleet_operator.build.children import children
    from shopfleet_operator.config import Config
    from shopfleet_operator.crd import Shop
    from tests.operator.shops import shop as shop_manifest

    shop = Shop.model_validate(shop_manifest("acme", tier=tier, stateStore=store))
    docs = [
        (f"operator {tier}/{store}", obj)
        for obj in children(shop, Config(), {}, TenantAccount("tenant", "pw"))
        if obj["kind"] == "Component"
    ]
    assert docs
    _check(docs)
