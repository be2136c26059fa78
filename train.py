"""Train a stockcast forecaster: `python train.py [hydra overrides]` (see conf/train.yaml).

A user error (bad data, a bad setting, an unknown override) ends in one line and exit status 2;
in a sweep the other jobs go on and the failed ones are listed at the end (stockcast/app/cli.py).
Resuming a run that already completed says so in one line and changes nothing.
"""

import sys

import hydra
from omegaconf import DictConfig

from stockcast.app.cli import run_cli
from stockcast.app.quiet import silence_known_noise
from stockcast.app.resolvers import register_resolvers
from stockcast.training.resume import complete_run_notice
from stockcast.training.run import train

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    silence_known_noise()  # here, not at import: joblib's workers run `main` without importing us
    return train(cfg).get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    notice = complete_run_notice(sys.argv[1:])  # resuming a completed run: say so, touch nothing
    if notice:
        print(notice)
        sys.exit(0)
    run_cli(main)
