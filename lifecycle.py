"""Model lifecycle: `python lifecycle.py command=retrain|rollback` (make retrain / make rollback).

See stockcast/ops/lifecycle.py for what each command does, conf/lifecycle/default.yaml for where
TorchServe is and the promotion rule.
"""

import sys

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from stockcast.errors import StockcastError
from stockcast.ops.layout import ProjectLayout
from stockcast.ops.lifecycle import retrain, rollback
from stockcast.training.run import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="lifecycle")
def main(cfg: DictConfig) -> None:
    try:
        if cfg.command == "retrain":
            code = retrain(cfg, ProjectLayout.find())
        elif cfg.command == "rollback":
            code = rollback(cfg)
        else:
            raise StockcastError(f"unknown command={cfg.command}; use retrain or rollback")
    except (StockcastError, InstantiationException) as exc:
        cause = exc if isinstance(exc, StockcastError) else exc.__cause__
        if not isinstance(cause, StockcastError):
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code)


if __name__ == "__main__":
    main()
