"""The direction of imports (DESIGN.md, docs/ARCHITECTURE.md), stated once and checked.

model imports nothing of ours and nothing outside the standard library (it is pure);
invariants imports model; proofs imports both and its engines' libraries, never the face;
reference_impl, the running array, imports only the standard library, so that comparing it
with the model compares two independent things; conformance is the one bridge between the
array and the model, and sits below the face; lutakeover, the face, may import everything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"model", "invariants", "proofs", "reference_impl", "conformance", "lutakeover", "benchmarks"}

# package -> (our packages it may import, third-party packages it may import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "model": ({"model"}, set()),
    "invariants": ({"model", "invariants"}, set()),
    "proofs": ({"model", "invariants", "proofs"}, {"hypothesis", "z3"}),
    "reference_impl": ({"reference_impl"}, set()),
    "conformance": ({"model", "invariants", "proofs", "reference_impl", "conformance"}, {"hypothesis"}),
    "lutakeover": (OURS - {"benchmarks"}, {"hypothesis", "z3", "graphviz", "pygraphviz", "networkx"}),
}


def imported(source: str) -> set[str]:
    """The top-level names of the modules a Python source imports (relative imports excluded)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str, source: str) -> list[str]:
    """What ``source``, a module of ``package``, imports against the rules."""
    ours, third_party = RULES[package]
    wrong = []
    for name in sorted(imported(source)):
        if name in sys.stdlib_module_names or name == "__future__":
            continue
        if name in OURS and name not in ours:
            wrong.append(f"{name} (the {package} layer may import only {', '.join(sorted(ours))} of ours)")
        elif name not in OURS and name not in third_party:
            wrong.append(f"{name} (not a library the {package} layer may use)")
    return wrong


def modules() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for package in RULES
        if (ROOT / package).is_dir()
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


@pytest.mark.parametrize(("package", "path"), modules(), ids=lambda x: str(x))
def test_imports_flow_one_way(package: str, path: Path) -> None:
    assert violations(package, path.read_text(encoding="utf-8")) == [], path.relative_to(ROOT)


def test_every_package_of_ours_has_a_rule() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(RULES), packages - set(RULES)


@pytest.mark.parametrize(
    ("package", "source", "wrong"),
    [
        ("model", "from invariants import SAFETY", "invariants"),
        ("model", "import hypothesis", "hypothesis"),
        ("invariants", "from proofs.explicit import explore", "proofs"),
        ("proofs", "from lutakeover.formats.report import dumps", "lutakeover"),
        ("reference_impl", "from model.state import World", "model"),
        ("reference_impl", "import z3", "z3"),
        ("conformance", "import lutakeover.cli", "lutakeover"),
    ],
)
def test_a_wrong_import_is_caught(package: str, source: str, wrong: str) -> None:
    (found,) = violations(package, source)
    assert found.startswith(wrong)


def test_the_standard_library_and_relative_imports_are_allowed() -> None:
    assert violations("reference_impl", "import os, json\nfrom . import disk\nfrom .cache import Cache") == []


def test_every_package_is_installed() -> None:
    # `pip install .` (the quick start, CI) installs only the packages pyproject.toml lists:
    # a new subpackage left out works in the checkout and is missing when installed.
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in OURS - {"benchmarks"}
        for init in (ROOT / package).rglob("__init__.py")
    }
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
