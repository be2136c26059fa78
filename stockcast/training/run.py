"""`train(cfg)`: fit, test the best checkpoint, calibrate on validation, evaluate, write artifacts,
then (with `refit=true`) the deployable refit on every row (stockcast/training/refit.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback, ProgressBar
from omegaconf import DictConfig

from stockcast.app.quiet import expect_own_checkpoints, silence_known_noise
from stockcast.app.stamp import load_average, write_stamped
from stockcast.evaluation.comparison import interval_score
from stockcast.evaluation.metrics import forecast_report
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.model.calibration import (
    Calibration,
    CalibrationSettings,
    conformal_quantiles,
    window_volatility,
)
from stockcast.model.drift import DriftReference
from stockcast.model.forecaster import ARTIFACT_DIR, Forecaster, network_log_factors
from stockcast.model.network import LSTMNet
from stockcast.training.datamodule import SplitArrays, StockDataModule
from stockcast.training.refit import REFIT_DIR, refit_config
from stockcast.training.report import plot_forecast, print_table, write_metrics

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job as configured and return its metrics (also in metrics.json, and
    what was measured where in stamp.json)."""
    load_before = load_average()
    silence_known_noise()  # here as well as in train.py: backtest folds train in worker processes
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)  # it is in .hydra/config.yaml
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path"):  # resumed into its own directory, it finds its own checkpoints there
        expect_own_checkpoints(output_dir / "checkpoints")

    datamodule: StockDataModule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    module: pl.LightningModule = hydra.utils.instantiate(cfg.model)
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=instantiate_callbacks(
            cfg.get("callbacks"), cfg.trainer.get("enable_progress_bar", True)
        ),
        logger=[hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()] or False,
    )

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    # the last epoch's losses, labelled so: every other figure comes from the tested checkpoint
    metrics = {
        f"last_epoch/{key.replace('/', '_')}": float(value)
        for key, value in trainer.callback_metrics.items()
    }
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if best and checkpoint.best_model_score is not None:
        metrics["val/best_loss"] = float(checkpoint.best_model_score)
    # epochs up to the checkpoint that is served (the best one's, else the last)
    metrics["epochs"] = (
        float(torch.load(best, map_location="cpu", weights_only=False)["epoch"] + 1)
        if best
        else float(trainer.current_epoch)
    )
    scored = "test" in datamodule.splits
    if scored:
        # our own just-written checkpoint; it holds callback and loop state beyond tensors
        for results in trainer.test(
            module,
            datamodule=datamodule,
            ckpt_path=best or None,
            weights_only=False,
            verbose=False,
        ):
            metrics.update({key: float(value) for key, value in results.items()})
    elif best:  # no test pass to load it: evaluate the best checkpoint's weights all the same
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    if not trainer.is_global_zero:
        return metrics
    metrics.update(evaluate(module.net, datamodule, cfg, output_dir))
    if scored and best and cfg.get("refit"):
        if trainer.world_size > 1:
            log.warning("no refit under DDP: train it with data.test_fraction=0 on its own")
        else:
            log.info("refitting on every row, stopping early on its own validation split")
            refit = train(refit_config(cfg, output_dir / REFIT_DIR))
            metrics["refit/epochs"] = refit["epochs"]
    write_metrics(metrics, output_dir / "metrics.json")
    if scored:
        test_start, test_end = datamodule.date_range("test")
        split = {"ticker": datamodule.ticker, "test_split": [test_start[:10], test_end[:10]]}
        write_stamped(output_dir / "stamp.json", "single-split", split, load_before)
        tested = "best checkpoint" if best else "weights of the last step"
        print_table(
            metrics,
            title=f"{datamodule.ticker}: test split {test_start[:10]} .. {test_end[:10]} "
            f"({tested})",
            horizon=datamodule.horizon,
        )
    elif is_the_job(output_dir):  # a refit's or a backtest fold's figures belong to its job
        calib_start, calib_end = datamodule.date_range("calib")
        print_table(
            metrics,
            title=f"{datamodule.ticker}: no test split (data.test_fraction=0); calibration split "
            f"{calib_start[:10]} .. {calib_end[:10]}",
            horizon=datamodule.horizon,
            split="calib",
        )
    log.info("run directory: %s", output_dir)
    return metrics


def is_the_job(output_dir: Path) -> bool:
    """Whether this training is the Hydra job itself, not a refit or backtest fold inside one."""
    return HydraConfig.initialized() and Path(HydraConfig.get().runtime.output_dir) == output_dir


def evaluate(
    net: LSTMNet, datamodule: StockDataModule, cfg: DictConfig, output_dir: Path
) -> dict[str, float]:
    """Conformal band on calib, score every held-out split (beside the band without the
    network, `.../no_network_winkler`), save the artifact.

    `calib/interval_coverage` is reported apart from `test/interval_coverage`: the first is close
    to nominal by construction, only the second is evidence.
    """
    splits = {split: datamodule.split_arrays(split) for split in datamodule.splits[1:]}
    forecaster = calibrated_forecaster(net, datamodule, splits["val"], splits["calib"], cfg)
    forecaster.save(output_dir / ARTIFACT_DIR)
    calibration = forecaster.calibration
    metrics: dict[str, float] = {
        "calibration/level": calibration.level,
        "calibration/quantile": calibration.quantiles[0],
        "calibration/baseline_quantile": calibration.baseline_quantiles[0],
    }
    ablated = forecaster.ablated()
    several = len(datamodule.tickers) > 1
    for split, arrays in splits.items():
        point, lower, upper = forecaster.forecast_windows(arrays.windows).closes(arrays.last_close)
        _, base_lower, base_upper = ablated.forecast_windows(arrays.windows).closes(
            arrays.last_close
        )
        groups = [(split, np.ones(len(arrays.last_close), dtype=bool))]
        if several and split != "val":
            groups += [
                (f"{split}/{ticker}", arrays.tickers == ticker) for ticker in datamodule.tickers
            ]
        for prefix, rows in groups:
            if not rows.any():
                continue
            truth = (arrays.last_close[rows], arrays.future_close[rows])
            metrics.update(forecast_report(prefix, *truth, point[rows], lower[rows], upper[rows]))
            metrics[f"{prefix}/winkler"] = relative_interval_score(
                truth, lower[rows], upper[rows], calibration.level
            )
            metrics[f"{prefix}/no_network_winkler"] = relative_interval_score(
                truth, base_lower[rows], base_upper[rows], calibration.level
            )
        if split == "test":
            shown = arrays.tickers == datamodule.tickers[0]
            prefix = f"test/{datamodule.tickers[0]}" if several else "test"
            plot_forecast(
                arrays.target_dates[shown],
                arrays.future_close[shown, 0],
                arrays.last_close[shown],
                lower[shown, 0],
                upper[shown, 0],
                base_lower[shown, 0],
                base_upper[shown, 0],
                output_dir / "forecast.png",
                title=f"{datamodule.tickers[0]} test split: {calibration.level:.0%} interval "
                f"coverage {metrics[f'{prefix}/interval_coverage']:.2f}, interval score "
                f"{metrics['test/winkler'] / metrics['test/no_network_winkler']:.3f}x the band "
                "without the network (all tickers)"
                + (f" (all {datamodule.horizon} steps)" if datamodule.horizon > 1 else ""),
                horizon=datamodule.horizon,
            )
    return metrics


def calibrated_forecaster(
    net: LSTMNet,
    datamodule: StockDataModule,
    val: SplitArrays,
    calib: SplitArrays,
    cfg: DictConfig,
) -> Forecaster:
    """Wrap the trained network with its scaler and the conformal quantiles of the calibration
    split, which nothing else has seen: the network's band's, and the band's without it (the
    ablation the backtest scores beside it). `val` served selection (early stopping) only."""
    settings: CalibrationSettings = hydra.utils.instantiate(cfg.calibration)
    sigma = window_volatility(calib.windows, settings.vol_lambda, settings.vol_estimator)
    moves = np.log(calib.future_close / calib.last_close[:, None])  # [n, H]
    factor = network_log_factors(net, datamodule.scaler, calib.windows, sigma)
    calibration = Calibration(
        level=float(settings.level),
        quantiles=conformal_quantiles(factor, moves, sigma, settings.level),
        baseline_quantiles=conformal_quantiles(np.zeros_like(factor), moves, sigma, settings.level),
        vol_lambda=float(settings.vol_lambda),
        self_rows=int(settings.self_rows),
        prior_rows=int(settings.prior_rows),
        vol_estimator=str(settings.vol_estimator),
    )
    train_start, train_end = datamodule.date_range("train")
    learned_until = datamodule.date_range("calib")[1]
    # every row the artifact learned from (network or band), each ticker in order
    learned_rows = pd.concat(
        [one.frame[one.frame["Date"] <= learned_until] for one in datamodule.series],
        ignore_index=True,
    )
    return Forecaster(
        net,
        datamodule.scaler,
        calibration,
        window=datamodule.window,
        interval=datamodule.interval,
        calendar=datamodule.calendar,
        drift=DriftReference.fit(datamodule.training_returns()),
        info={
            "name": cfg.model_name,
            "ticker": datamodule.ticker,
            "tickers": list(datamodule.tickers),
            "trained_on": f"{datamodule.ticker} {train_start[:10]}..{train_end[:10]}",
            # the last row any part of the artifact learned from (network or band):
            # for a refit, the data's last row
            "trained_until": learned_until,
            "selected_until": datamodule.date_range("val")[1],
            "calibrated_on": "{}..{}".format(*(d[:10] for d in datamodule.date_range("calib"))),
            "calibrated_until": learned_until,
            "data_sha256": ohlcv_sha256(learned_rows),  # tells a rewritten history apart
        },
    )


def relative_interval_score(
    truth: tuple[np.ndarray, np.ndarray], lower: np.ndarray, upper: np.ndarray, level: float
) -> float:
    """Mean interval score of a band relative to the last close (comparable across tickers)."""
    last_close, actual = truth
    score = interval_score(actual, lower, upper, 1.0 - level) / last_close[:, None]
    return float(score.mean())


def instantiate_callbacks(callbacks_cfg: DictConfig | None, progress_bar: bool) -> list[Callback]:
    """Build the configured callbacks; a progress bar is dropped when the trainer disables it."""
    callbacks = [
        hydra.utils.instantiate(c) for c in (callbacks_cfg or {}).values() if c is not None
    ]
    return [c for c in callbacks if progress_bar or not isinstance(c, ProgressBar)]
