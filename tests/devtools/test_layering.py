"""Development tooling stays out of the product: no product module imports it, and the
installed package does not contain it."""

from __future__ import annotations

import ast
import tomllib

from setuptools import find_namespace_packages

from tests.paths import ROOT

PRODUCT = ["routeyard", "schemas", "adapters", "policy", "streams", "store", "emulator"]
CHECKOUT_ONLY = ("devtools", "tests", "benchmarks")


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_product_module_imports_checkout_only_code() -> None:
    offenders = []
    checked = 0
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            checked += 1
            for name in _imported(ast.parse(path.read_bytes(), str(path))):
                if name.split(".")[0] in CHECKOUT_ONLY:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert checked > 50, "the product packages were not found"
    assert offenders == []


def test_the_wheel_holds_the_product_and_no_dev_tooling() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    spec = pyproject["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(
        where=str(ROOT), include=spec["include"], exclude=spec.get("exclude", [])
    )
    tops = {name.split(".")[0] for name in packages}
    present = {name for name in PRODUCT if (ROOT / name / "__init__.py").is_file()}
    assert present <= tops
    assert not tops & set(CHECKOUT_ONLY)
    assert "devtools.kafka" not in packages
