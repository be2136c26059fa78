"""`train(cfg)`: fit, test the best checkpoint, calibrate on validation, evaluate, write artifacts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import Callback, ProgressBar
from omegaconf import DictConfig, OmegaConf

from stockcast.data.cache_record import ohlcv_sha256
from stockcast.data.features import RETURN_FEATURE
from stockcast.model.calibration import fit_calibration, window_volatility
from stockcast.model.forecaster import ARTIFACT_DIR, Forecaster, network_returns
from stockcast.model.network import LSTMNet
from stockcast.training.datamodule import SplitArrays, StockDataModule
from stockcast.training.report import plot_forecast, print_table, write_metrics
from stockcast.training.scores import forecast_report

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job as configured and return its metrics (also in metrics.json)."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

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
    if best:
        metrics["val/best_loss"] = float(checkpoint.best_model_score)
    # our own just-written checkpoint; it holds callback and loop state beyond tensors
    for results in trainer.test(
        module, datamodule=datamodule, ckpt_path=best or None, weights_only=False, verbose=False
    ):
        metrics.update({key: float(value) for key, value in results.items()})
    if not trainer.is_global_zero:
        return metrics
    metrics.update(evaluate(module.net, datamodule, cfg, output_dir))
    write_metrics(metrics, output_dir / "metrics.json")
    test_start, test_end = datamodule.date_range("test")
    tested = "best checkpoint" if best else "weights of the last step"
    print_table(
        metrics,
        title=f"{datamodule.ticker}: test split {test_start[:10]} .. {test_end[:10]} ({tested})",
        horizon=datamodule.horizon,
    )
    log.info("run directory: %s", output_dir)
    return metrics


def evaluate(
    net: LSTMNet, datamodule: StockDataModule, cfg: DictConfig, output_dir: Path
) -> dict[str, float]:
    """Calibrate on validation, score val and test, save the serving artifact and the plot."""
    splits = {split: datamodule.split_arrays(split) for split in ("val", "test")}
    forecaster = calibrated_forecaster(net, datamodule, splits["val"], cfg)
    forecaster.save(output_dir / ARTIFACT_DIR)
    calibration = forecaster.calibration
    metrics: dict[str, float] = {
        "calibration/shrink": calibration.shrink,
        "calibration/level": calibration.level,
        "calibration/quantile": calibration.quantiles[0],
    }
    for split, arrays in splits.items():
        forecast = forecaster.forecast_windows(arrays.windows)
        point, lower, upper = forecast.closes(arrays.last_close)
        metrics.update(
            forecast_report(
                split,
                arrays.last_close,
                arrays.future_close,
                point,
                forecast.raw_return,
                lower,
                upper,
            )
        )
        if split == "test":
            plot_forecast(
                arrays.target_dates,
                arrays.future_close[:, 0],
                point[:, 0],
                arrays.last_close,
                lower[:, 0],
                upper[:, 0],
                output_dir / "forecast.png",
                title=f"{datamodule.ticker} test split: MASE {metrics['test/mase']:.3f}, "
                f"{calibration.level:.0%} interval coverage {metrics['test/interval_coverage']:.2f}"
                + (f" (all {datamodule.horizon} steps)" if datamodule.horizon > 1 else ""),
                horizon=datamodule.horizon,
            )
    return metrics


def calibrated_forecaster(
    net: LSTMNet, datamodule: StockDataModule, val: SplitArrays, cfg: DictConfig
) -> Forecaster:
    """Wrap the trained network with its scaler and a calibration fitted on validation only."""
    calibration = fit_calibration(
        network_returns(net, datamodule.scaler, val.windows),
        np.log(val.future_close / val.last_close[:, None]),
        val.last_close,
        window_volatility(val.windows, RETURN_FEATURE),
        level=cfg.calibration.level,
        tolerance_se=cfg.calibration.shrink_tolerance_se,
    )
    train_start, train_end = datamodule.date_range("train")
    # from the first row to the last training target: the rows the network was fitted on
    trained_rows = datamodule.frame[datamodule.frame["Date"] <= train_end]
    return Forecaster(
        net,
        datamodule.scaler,
        calibration,
        window=datamodule.window,
        interval=datamodule.interval,
        info={
            "name": cfg.model_name,
            "ticker": datamodule.ticker,
            "trained_on": f"{datamodule.ticker} {train_start[:10]}..{train_end[:10]}",
            "trained_until": train_end,
            "calibrated_until": datamodule.date_range("val")[1],
            "data_sha256": ohlcv_sha256(trained_rows),  # tells a rewritten history apart
        },
    )


def instantiate_callbacks(callbacks_cfg: DictConfig | None, progress_bar: bool) -> list[Callback]:
    """Build the configured callbacks; a progress bar is dropped when the trainer disables it."""
    callbacks = [
        hydra.utils.instantiate(c) for c in (callbacks_cfg or {}).values() if c is not None
    ]
    return [c for c in callbacks if progress_bar or not isinstance(c, ProgressBar)]


def register_resolvers() -> None:
    """`${tty:}` is true in a terminal: rich progress bars there, plain logs in CI and files."""
    if not OmegaConf.has_resolver("tty"):
        OmegaConf.register_new_resolver("tty", lambda: sys.stdout.isatty())
