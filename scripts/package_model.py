"""Package a training run for TorchServe: `python scripts/package_model.py [run_dir]`.

Writes `<model store>/stockcast.mar` (default `model_store/`) from the run named, else from the
newest complete, non-debug run, and registers it as a version of the MLflow registered model
with the alias `champion`: `stockcast.mar` is what a (re)started TorchServe serves, and the
registry's champion is what `make serve` syncs the store to, so packaging by hand deploys by hand
(stockcast/release/registry.py; `--no-register` leaves the registry alone); see
stockcast/release/packaging.py for what the archive holds and why.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.errors import StockcastError
from stockcast.release.packaging import (
    artifact_dir,
    build_mar,
    default_version,
    newest_servable_run,
)
from stockcast.release.registry import Registry

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        help="training run directory holding artifact/ (default: the newest complete, "
        "non-debug run under the runs directory, paths.runs_dir, by completion time)",
    )
    parser.add_argument("--model-store", type=Path, default=LAYOUT.model_store)
    parser.add_argument("--version", help="model version (default: when the weights were written)")
    parser.add_argument(
        "--model-name", help="the name TorchServe registers (default: conf/train.yaml's model_name)"
    )
    parser.add_argument(
        "--no-register",
        dest="register",
        action="store_false",
        help="leave the MLflow model registry alone (default: register the version there)",
    )
    args = parser.parse_args(argv)
    if args.run_dir is None:
        newest = newest_servable_run(LAYOUT.runs_dir)
        if newest is None:
            raise StockcastError(
                f"no complete, non-debug run under {LAYOUT.runs_dir} "
                "(run `make train`, or name one: make package RUN=<run>)"
            )
        args.run_dir = newest[0]
    artifact = artifact_dir(args.run_dir)
    version = args.version or default_version(artifact)
    mar = build_mar(
        LAYOUT, args.run_dir, args.model_store, version=version, model_name=args.model_name
    )
    model_name = args.model_name or LAYOUT.model_name
    if args.register:
        registry = Registry.at(LAYOUT.mlflow_dir, model_name)
        registered = registry.register(args.model_store, version, Path(args.run_dir))
        deployed = Path(args.model_store).resolve() == LAYOUT.model_store.resolve()
        if deployed:  # the project's store: its stockcast.mar is the served default
            registry.deploy(version)
        print(
            f"registered: {model_name} version {registered.version} in {registered.source}"
            + (", alias champion" if deployed else "")
        )
    print(f"{mar} (model {model_name}, version {version}, from {artifact})")
    return 0


if __name__ == "__main__":
    run_script(main, expected=(OSError, ValueError, subprocess.CalledProcessError))
