"""Imports between the packages point one way: schemas <- adapters <- policy <- streams <- CLI.

Every module of the product packages is parsed (not imported) and each import of a
first-party package, at module level or inside a function, is checked against
:data:`ALLOWED`. ``store`` sits beside ``adapters`` (both only speak to the outside world
about schemas' types); the emulator stands alone so it can play any provider; the CLI may
use everything in the product. No product module imports ``devtools``: a production worker
does not ship it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.paths import ROOT

ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "adapters": frozenset({"schemas"}),
    "store": frozenset({"schemas"}),
    "policy": frozenset({"schemas", "adapters"}),
    "streams": frozenset({"schemas", "adapters", "policy", "store"}),
    "emulator": frozenset({"schemas"}),
    "routeyard": frozenset({"schemas", "adapters", "policy", "streams", "store", "emulator"}),
}
PRODUCT = tuple(ALLOWED)
# First-party code that is not product: importing it from the product is always wrong.
CHECKOUT_ONLY = frozenset({"devtools", "tests", "benchmarks"})
FIRST_PARTY = frozenset(ALLOWED) | CHECKOUT_ONLY
# What a relative import above the top-level package resolves to: always a violation.
BEYOND_TOP = "<above the top-level package>"


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str

    def __str__(self) -> str:
        package = self.module.split("/")[0]
        allowed = ", ".join(sorted(ALLOWED[package])) or "no first-party package"
        return f"{self.module}:{self.line} imports {self.imported} ({package} may import {allowed})"


def _absolute(node: ast.ImportFrom, module_parts: list[str]) -> str:
    """The absolute name of a relative ``from . import x`` in the module ``module_parts``."""
    if node.level == 0:
        return node.module or ""
    # One dot is the module's own package (for an __init__ too: its parts end in __init__).
    package = module_parts[:-1]
    up = node.level - 1
    if up >= len(package):
        return f"{BEYOND_TOP}.{node.module or ''}"
    base = package[: len(package) - up]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(source: str, relative_path: str) -> list[tuple[int, str]]:
    """Every (line, module) the source imports, relative imports made absolute, plus
    ``importlib.import_module("...")`` calls with a literal name."""
    parts = relative_path.removesuffix(".py").split("/")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, relative_path)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, _absolute(node, parts)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return sorted(found)


def violations_in(source: str, relative_path: str) -> list[Violation]:
    package = relative_path.split("/")[0]
    out = []
    for line, name in imports_of(source, relative_path):
        top = name.split(".")[0]
        if top == package or (top not in FIRST_PARTY and top != BEYOND_TOP):
            continue
        if top not in ALLOWED[package]:
            out.append(Violation(relative_path, line, name))
    return out


def _product_modules() -> list[Path]:
    return [path for package in PRODUCT for path in sorted((ROOT / package).rglob("*.py"))]


def test_every_product_import_follows_the_layers() -> None:
    modules = _product_modules()
    assert len(modules) > 80, f"only {len(modules)} product modules found under {ROOT}"
    found: list[Violation] = []
    for path in modules:
        relative = path.relative_to(ROOT).as_posix()
        found.extend(violations_in(path.read_text(encoding="utf-8"), relative))
    assert not found, "imports against the layers:\n" + "\n".join(map(str, found))


def test_every_top_level_package_has_a_place_in_the_layers() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    unplaced = packages - FIRST_PARTY
    assert not unplaced, f"add {sorted(unplaced)} to ALLOWED (product) or CHECKOUT_ONLY"
    assert set(PRODUCT) <= packages, f"missing packages: {sorted(set(PRODUCT) - packages)}"


def test_the_layers_have_no_cycle() -> None:
    placed: list[str] = []
    left = dict(ALLOWED)
    while left:
        ready = [p for p, deps in left.items() if deps <= set(placed)]
        assert ready, f"a cycle among {sorted(left)}"
        placed.extend(sorted(ready))
        for p in ready:
            del left[p]
    assert placed.index("schemas") < placed.index("adapters") < placed.index("policy")
    assert placed.index("policy") < placed.index("streams") < placed.index("routeyard")


def test_the_checker_catches_upward_lazy_relative_and_dynamic_imports() -> None:
    source = (
        "import policy.retry\n"
        "def f():\n"
        "    from streams.model_client import ModelClient\n"
        "    import importlib\n"
        "    importlib.import_module('devtools.demo')\n"
        "from . import base\n"
        "from ..errors import ProviderError\n"
        "from ...policy import pricing\n"
        "import httpx\n"
    )
    found = [(v.line, v.imported) for v in violations_in(source, "adapters/openai/adapter.py")]
    # `from .` and `from ..` stay inside adapters; `from ...` climbs out of the tree.
    assert found == [
        (1, "policy.retry"),
        (3, "streams.model_client"),
        (5, "devtools.demo"),
        (8, f"{BEYOND_TOP}.policy"),
    ]
    assert imports_of("from . import x\n", "adapters/openai/__init__.py") == [
        (1, "adapters.openai")
    ]
    assert violations_in("from schemas.events import LLMRequest\n", "policy/retry.py") == []
    assert [v.imported for v in violations_in("import adapters\n", "schemas/x.py")] == ["adapters"]


def test_the_image_copies_every_product_package() -> None:
    # The Dockerfile lists packages one by one; a new one left out installs but fails on import.
    dockerfile = (ROOT / "Dockerfile").read_text()
    missing = [p for p in PRODUCT if f"COPY {p} ./{p}\n" not in dockerfile]
    assert not missing, f"the Dockerfile does not copy {missing}"
