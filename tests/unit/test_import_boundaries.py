"""Boundaries of the installed code, read from its imports: product code (services/,
operator/) never imports the test tree, which the package and the image do not have; the
operator uses the platform's shared kit, not a service's code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = (ROOT / "services", ROOT / "operator")
# A module name given as text, e.g. to `python -m` or importlib: tests.support.sidecar
TEST_MODULE_TEXT = re.compile(r"^tests(\.[A-Za-z_]\w*)+$")
# What the operator may use of the shopfleet package: the kit and the list of services.
OPERATOR_MAY_IMPORT = ("shopfleet.kit", "shopfleet.services")


def product_modules() -> list[Path]:
    return sorted(path for folder in PRODUCT_DIRS for path in folder.rglob("*.py"))


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, at any depth (function-level ones too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def module_names_as_text(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant that names a module of the test tree."""
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and TEST_MODULE_TEXT.match(text):
            yield node.lineno, text


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_product_code_does_not_import_the_tests() -> None:
    offending = []
    for path in product_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        imports = [(line, m) for line, m in imported_modules(tree) if is_within(m, "tests")]
        for line, module in [*imports, *module_names_as_text(tree)]:
            offending.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert len(product_modules()) > 100  # the scan found the code
    assert offending == []


def test_the_operator_uses_only_the_kit_of_the_shopfleet_package() -> None:
    outside = []
    for path in sorted((ROOT / "operator").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module in imported_modules(tree):
            shared = any(is_within(module, allowed) for allowed in OPERATOR_MAY_IMPORT)
            if is_within(module, "shopfleet") and not shared:
                outside.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert outside == []


def test_the_scan_sees_imports_at_any_depth_and_module_names_as_text() -> None:
    """The checks above would pass vacuously if the scan missed these shapes."""
    source = (
        "import tests.support\n"
        "def run():\n"
        "    from tests.support.clock import Clock\n"
        "    return ['python', '-m', 'tests.support.sidecar']\n"
    )
    tree = ast.parse(source)
    assert [module for _, module in imported_modules(tree)] == [
        "tests.support",
        "tests.support.clock",
    ]
    assert [text for _, text in module_names_as_text(tree)] == ["tests.support.sidecar"]
