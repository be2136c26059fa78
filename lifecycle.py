"""Model lifecycle: `python lifecycle.py command=retrain|rollback` (make retrain / make rollback).

See stockcast/release/lifecycle.py for what each command does, conf/lifecycle/default.yaml for where
TorchServe is and the promotion rule.
"""

import sys

import hydra
from omegaconf import DictConfig

from stockcast.app.cli import or_exit, run_cli
from stockcast.app.layout import ProjectLayout
from stockcast.app.resolvers import register_resolvers
from stockcast.errors import StockcastError
from stockcast.release.lifecycle import retrain, rollback

register_resolvers()


def command(cfg: DictConfig) -> int:
    if cfg.command == "retrain":
        return retrain(cfg, ProjectLayout.find())
    if cfg.command == "rollback":
        return rollback(cfg)
    raise StockcastError(f"unknown command={cfg.command}; use retrain or rollback")


@hydra.main(version_base="1.3", config_path="conf", config_name="lifecycle")
def main(cfg: DictConfig) -> None:
    sys.exit(or_exit(lambda: command(cfg)))


if __name__ == "__main__":
    run_cli(main)
