"""Every package the project's modules import is a base dependency in pyproject.toml, not one an extra pulls in.

The lmms-eval interop modules are left out: they run only with the `lmms` or `test` extra installed. The check
reads the imports with ast (wherever they are: module level or inside a function, since a lazy import still
runs for some command) and maps import names to distributions with importlib.metadata, so `PIL` is `pillow`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vargpt", "evals", "tasks")


def is_lmms_eval_interop(path: Path) -> bool:
    """The modules that serve lmms-eval (its model plugin, the re-scoring of its logs): `lmms_eval_*.py`, interop/."""
    return path.stem.startswith("lmms_eval") or "interop" in path.relative_to(REPO_ROOT).parts


def project_modules() -> list[Path]:
    """Every .py file of vargpt/, evals/ and tasks/ outside the lmms-eval interop."""
    files = [path for package in PACKAGES for path in sorted((REPO_ROOT / package).rglob("*.py"))]
    return [path for path in files if not is_lmms_eval_interop(path)]


def imported_top_names(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file (`from PIL.Image import x` -> `PIL`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def normalize(name: str) -> str:
    """PEP 503 name: `huggingface_hub` -> `huggingface-hub`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def base_dependencies() -> set[str]:
    """Normalised distribution names of [project].dependencies (the extras are not read)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line.strip()).group(0)) for line in project["dependencies"]}


def third_party_imports() -> dict[str, list[str]]:
    """Import name -> the project files importing it, for every name outside the standard library and the project."""
    found: dict[str, list[str]] = {}
    for path in project_modules():
        for name in imported_top_names(path):
            if name not in sys.stdlib_module_names and name not in PACKAGES:
                found.setdefault(name, []).append(str(path.relative_to(REPO_ROOT)))
    return found


def test_every_imported_package_is_a_base_dependency():
    base = base_dependencies()
    providers = packages_distributions()
    uncovered = []
    for name, files in sorted(third_party_imports().items()):
        distributions = {normalize(d) for d in providers.get(name, [])}
        if not distributions & base:
            shown = ", ".join(sorted(distributions)) or "no installed distribution"
            uncovered.append(f"{name} (from {shown}; imported by {', '.join(files)})")
    assert not uncovered, "imports missing from [project].dependencies: " + "; ".join(uncovered)


def test_device_map_comes_with_accelerate():
    # transformers refuses from_pretrained(device_map=...) without accelerate installed, and no import says so.
    passes_device_map = [
        str(path.relative_to(REPO_ROOT))
        for path in project_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.keyword) and node.arg == "device_map"
    ]
    assert not passes_device_map or "accelerate" in base_dependencies(), passes_device_map


def test_the_check_sees_the_imports_it_must_cover():
    # Guards the test above against an empty scan: these are imported at module level by the files named.
    imports = third_party_imports()
    assert "tasks/mmbench.py" in imports["openpyxl"]
    assert "vargpt/modeling_vargpt.py" in imports["transformers"]
    assert "PIL" in imports and "lmms_eval" not in imports
    assert {"torch", "pillow", "openpyxl"} <= base_dependencies()
