"""The package's shape: stages import one way, and what the server imports stays light.

Stages: data -> model -> training / serving -> backtest -> ops. A module may import its own
subpackage and earlier stages only, and training and serving never import each other, so the
archive (data, model, serving) never drags in Lightning, Hydra or the ops tooling.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stockcast"
RANK = {"errors": 0, "data": 1, "model": 2, "training": 3, "serving": 3, "backtest": 4, "ops": 5}


def stage(module: str) -> str:
    """'stockcast.model.forecaster' -> 'model'; the package root's modules count as 'errors'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "errors"


def stockcast_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("stockcast")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stockcast"):
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_stage_subpackage_or_is_one_of_the_shared_few():
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py", "errors.py"]
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} <= set(
        RANK
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_from_data_to_ops_only(path):
    own = stage("stockcast." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    for imported in stockcast_imports(path):
        other = stage(imported)
        if other == own:
            continue
        assert RANK[other] < RANK[own], f"{path.name} ({own}) imports {imported} ({other})"
