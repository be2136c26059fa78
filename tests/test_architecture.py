"""The package's shape: what ships in the archive imports nothing offline, and stages import one way.

Three groups, in this order:
- served (shipped whole in stockcast.mar): inputs -> model -> serving;
- offline: market, app, evaluation (scores) -> training -> backtest (walk-forward, promotion);
- tooling: release -> stack -> bench.
A module imports its own subpackage, earlier stages, and never a later one; the served group imports
only the served group and no library that the serving image does not install.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stockcast.release.packaging import SERVED_MODULES, SERVED_SUBPACKAGES

PACKAGE = Path(__file__).resolve().parents[1] / "stockcast"
SERVED = {"errors": 0, "inputs": 1, "model": 2, "serving": 3}
OFFLINE = {"market": 4, "app": 4, "evaluation": 4, "training": 5, "backtest": 6}
TOOLING = {"release": 7, "stack": 8, "bench": 9}
RANK = SERVED | OFFLINE | TOOLING
# what only offline code may import: training, tuning, downloading, plotting
OFFLINE_LIBRARIES = {
    "lightning",
    "pytorch_lightning",
    "hydra",
    "omegaconf",
    "yfinance",
    "sklearn",
    "matplotlib",
    "optuna",
    "arch",
    "rich",
    "requests",
    "mlflow",
}


def stage(module: str) -> str:
    """'stockcast.model.forecaster' -> 'model'; the package root's modules count as 'errors'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "errors"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def stockcast_imports(path: Path) -> set[str]:
    return {name for name in imports(path) if name == "stockcast" or name.startswith("stockcast.")}


MODULES = sorted(PACKAGE.rglob("*.py"))
SERVED_FILES = [
    p for p in MODULES if stage(f"stockcast.{p.relative_to(PACKAGE).parts[0]}") in SERVED
]


def test_every_module_sits_in_a_stage_subpackage_or_is_one_of_the_shared_few():
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py", "errors.py"]
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert subpackages == set(RANK) - {"errors"}


def test_the_archive_ships_exactly_the_served_group_whole():
    assert set(SERVED_SUBPACKAGES) == set(SERVED) - {"errors"}
    assert set(SERVED_MODULES) == {"__init__.py", "errors.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_from_served_to_offline_to_tooling_only(path):
    own = stage("stockcast." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    for imported in stockcast_imports(path):
        other = stage(imported)
        if other == own:
            continue
        assert RANK[other] < RANK[own], f"{path.name} ({own}) imports {imported} ({other})"


@pytest.mark.parametrize("path", SERVED_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_served_code_imports_nothing_offline(path):
    for imported in stockcast_imports(path):
        assert stage(imported) in SERVED, f"{path} imports {imported}, which is not shipped"
    libraries = {name.split(".")[0] for name in imports(path)}
    assert not libraries & OFFLINE_LIBRARIES, f"{path} imports {libraries & OFFLINE_LIBRARIES}"
