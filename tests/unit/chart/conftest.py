"""Rendering the Helm chart for tests, with Helm's own engine.

There is no `helm` binary on our machines; `helm-python-sdk` (the test extra) binds Helm's
Go SDK, so `render` below is what `helm template` would print and `lint` what `helm lint`
would report. The release is installed the way skaffold.yaml does it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "shopfleet"
RELEASE = "shopfleet"  # as skaffold.yaml names the release
NAMESPACE = "shopfleet"


@dataclass
class Rendered:
    """The objects of one `helm template`, and its NOTES.txt."""

    objects: list[dict[str, Any]]
    notes: str
    sources: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> template file

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, rendered: {self.names(kind)}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return [obj["metadata"]["name"] for obj in self.of_kind(kind)]

    def secret_data(self) -> dict[str, dict[str, str]]:
        """Every rendered Secret's content, decoded."""
        out: dict[str, dict[str, str]] = {}
        for secret in self.of_kind("Secret"):
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            data.update(secret.get("stringData") or {})
            out[secret["metadata"]["name"]] = data
        return out


def container_env(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """A container's environment as the kubelet builds it: secret references resolved and
    `$(VAR)` expanded from the variables defined before it."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                str(item["value"]),
            )
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] in secrets, f"{item['name']}: Secret {ref['name']} is not rendered"
            assert ref["key"] in secrets[ref["name"]], f"{item['name']}: no key {ref['key']}"
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip(
        "helm_python",
        reason="rendering the chart needs helm-python-sdk (Helm's Go SDK), from the test "
        "extra: pip install -e '.[test]'",
    )


@pytest.fixture(scope="session")
def render(helm: Any) -> Callable[..., Rendered]:
    cache: dict[str, Rendered] = {}

    def _render(
        values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE, release: str = RELEASE
    ) -> Rendered:
        key = repr((values, namespace, release))
        if key not in cache:
            with helm.Chart.load(str(CHART)) as chart:
                files = chart.render(
                    values or {}, name=release, namespace=namespace, is_install=True
                )
            objects, notes, sources = [], "", {}
            for path, text in sorted(files.items()):
                if path.endswith("NOTES.txt"):
                    notes = text
                    continue
                for doc in yaml.safe_load_all(text):
                    if doc:
                        objects.append(doc)
                        sources[f"{doc['kind']}/{doc['metadata']['name']}"] = path
            cache[key] = Rendered(objects, notes, sources)
        return cache[key]

    return _render
