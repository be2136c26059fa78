"""`run_backtest(cfg)`: every method on the same scored days, one table, backtest.json and a plot.

The methods are the naive random walk with an empirical band, RiskMetrics EWMA, GARCH(1,1)-t,
HAR on range-based variance (self-calibrated as the model's band is), the model's served band
with the network removed (`no_network`) and the project's model exactly as it is served (refit in
process on a schedule, or a live endpoint with `backtest.endpoint=<url>`). Folds train in
parallel worker processes (joblib); the references run meanwhile in this one. The model is
tested against each reference (Diebold-Mariano, Holm-adjusted across the table), and
backtest.json keeps each method's per-day relative interval score so that a sweep can pool the
test across tickers (stockcast/backtest/summary.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import DictConfig, OmegaConf

from stockcast.app.stamp import load_average, stamp
from stockcast.backtest.report import plot_backtest, print_backtest, write_json
from stockcast.backtest.walk_forward import (
    BacktestError,
    endpoint_band,
    fit_and_forecast,
    learned_from,
    model_band,
    plan_folds,
    scored_origins,
)
from stockcast.evaluation.comparison import (
    diebold_mariano,
    holm_adjusted,
    interval_score,
    score_method,
)
from stockcast.evaluation.references import (
    INTERVAL_REFERENCES,
    MIN_GARCH_RETURNS,
    Band,
    ewma_band,
    garch_band,
    har_band,
    har_first_origin,
    naive_band,
)
from stockcast.model.calibration import min_calibration_rows

log = logging.getLogger(__name__)
METHODS = ("naive", "ewma", "garch", "har", "no_network", "model")
OHLCV = ["Open", "High", "Low", "Close", "Volume"]


def run_backtest(cfg: DictConfig) -> dict[str, Any]:
    """Walk forward over the last `backtest.last_days` rows; write and return the report."""
    started, load_before = time.perf_counter(), load_average()
    settings = cfg.backtest
    unknown = sorted(set(settings.methods) - set(METHODS))
    if unknown:
        raise BacktestError(f"unknown backtest method(s) {unknown}; choose from {list(METHODS)}")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    ticker = scored_ticker(cfg)
    frame = hydra.utils.instantiate(cfg.data, ticker=ticker).load_frame()
    closes = frame["Close"].to_numpy(np.float64)
    horizon, level = int(cfg.data.horizon), float(cfg.calibration.level)
    self_rows = int(cfg.calibration.self_rows)
    wanted = set(settings.methods)
    if settings.endpoint and "no_network" in wanted:
        log.info(
            "no_network left out: a live endpoint serves only the full band, and the band "
            "without the network needs the artifact in process"
        )
        wanted.discard("no_network")
    in_process = bool(wanted & {"model", "no_network"}) and not settings.endpoint
    min_history = max(settings.naive_lookback + horizon, MIN_GARCH_RETURNS + 1)
    if "har" in wanted:
        if self_rows < min_calibration_rows(level):
            raise BacktestError(
                f"the har reference self-calibrates on calibration.self_rows={self_rows} days, "
                f"and a {level:.0%} band needs at least {min_calibration_rows(level)}; raise it "
                f"or leave har out of backtest.methods"
            )
        min_history = max(min_history, har_first_origin(horizon, self_rows) + 1)
    if in_process:
        refit = hydra.utils.instantiate(cfg.data, ticker=ticker, test_fraction=0.0)
        min_history = max(min_history, refit.min_rows)
    origins = scored_origins(len(frame), settings.last_days, horizon, min_history)

    folds = plan_folds(origins, settings.refit_every)
    pending = None
    if in_process:
        log.info("refitting the model %d time(s), %d in parallel", len(folds), settings.n_jobs)
        # worker processes have no Hydra runtime: each fold sets its own output directory
        # before anything interpolates it (checkpoints, CSV logs)
        plain = OmegaConf.to_container(cfg, resolve=False)
        pending = Parallel(n_jobs=settings.n_jobs, return_as="generator")(
            delayed(fit_and_forecast)(
                plain,
                training_tickers(cfg, ticker),
                fold,
                frame,
                output_dir / "folds" / str(fold.number),
                settings.upload_rows,
                Path(settings.fold_cache) if settings.get("fold_cache") else None,
            )
            for fold in folds
        )
    ohlcv = frame[OHLCV].to_numpy(np.float64)
    bands = reference_bands(settings, wanted, ohlcv, origins, horizon, level, self_rows)
    model_info: dict[str, Any] = {}
    if pending is not None:
        parts = list(pending)
        if "no_network" in wanted:
            bands["no_network"] = model_band("no_network", level, [p.ablated for p in parts])
        if "model" in wanted:
            bands["model"] = model_band("model", level, [p.served for p in parts])
        model_info = {"folds": [p.info for p in parts]}
    elif "model" in wanted:
        *band, served = endpoint_band(
            settings.endpoint, frame, origins, settings.upload_rows, horizon
        )
        bands["model"] = model_band("model", level, [tuple(band)])
        model_info = {"endpoint": settings.endpoint, "served": served}
        scored_days = frame["Date"].iloc[origins[0] + 1 : origins[-1] + horizon + 1]
        in_sample = learned_from(served, ticker, scored_days)
        if in_sample:
            log.warning("%s", in_sample)

    report = score(frame, closes, origins, horizon, bands)
    recent = int(settings.get("recent_days") or 0)
    if 0 < recent < len(origins):  # the most recent days' table beside the headline's
        report["recent"] = score(
            frame, closes, origins[-recent:], horizon, {k: b.tail(recent) for k, b in bands.items()}
        )
    report.update(
        ticker=ticker,
        trained_on=training_tickers(cfg, ticker),
        horizon=horizon,
        level=level,
        refit_every=int(settings.refit_every),
        upload_rows=int(settings.upload_rows),
        model=model_info,
        wall_seconds=round(time.perf_counter() - started, 1),
    )
    write_json(
        {"name": "walk-forward", "stamp": stamp(load_before), **report},
        output_dir / "backtest.json",
    )
    plot_backtest(frame, origins, closes, bands, level, output_dir / "backtest.png")
    print_backtest(report)
    log.info("backtest written to %s", output_dir)
    return report


def scored_ticker(cfg: DictConfig) -> str:
    """`backtest.ticker`, else the one `data.ticker`, else the first of `data.tickers`."""
    return str(cfg.backtest.ticker or cfg.data.ticker or cfg.data.tickers[0]).upper()


def training_tickers(cfg: DictConfig, scored: str) -> list[str]:
    """What the refits train on: `data.ticker` alone, or `data.tickers` without the scored
    ticker when `backtest.leave_out` (to measure the model on a series it never saw)."""
    tickers = [cfg.data.ticker] if cfg.data.ticker else list(cfg.data.tickers)
    tickers = [t.upper() for t in tickers]
    if cfg.backtest.leave_out:
        tickers = [t for t in tickers if t != scored]
        if not tickers:
            raise BacktestError(
                f"backtest.leave_out=true leaves no ticker to train on besides {scored}"
            )
    return tickers


def reference_bands(
    settings: DictConfig,
    wanted: set[str],
    ohlcv: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float,
    self_rows: int,
) -> dict[str, Band]:
    """Naive always (it is the MAE yardstick), EWMA, GARCH and HAR when asked for, in the table's
    order. ohlcv: the frame's [N, 5] bars (HAR reads their ranges, the others the closes)."""
    closes = ohlcv[:, 3]
    bands = {"naive": naive_band(closes, origins, horizon, level, settings.naive_lookback)}
    if "ewma" in wanted:
        bands["ewma"] = ewma_band(closes, origins, horizon, level, settings.ewma_lambda)
    if "garch" in wanted:
        bands["garch"] = garch_band(
            closes, origins, horizon, level, settings.garch_refit_every, settings.garch_window
        )
    if "har" in wanted:
        bands["har"] = har_band(
            ohlcv, origins, horizon, level, int(settings.refit_every), self_rows
        )
    return bands


def score(
    frame: pd.DataFrame,
    closes: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    bands: dict[str, Band],
) -> dict[str, Any]:
    """Scores per method on the same days, Diebold-Mariano tests of the model against each
    reference with Holm-adjusted p-values (`p_holm`, across the table), and each method's per-day
    interval score relative to the last close (`daily`, what a sweep pools across tickers)."""
    last_close = closes[origins]  # [n]
    actual = closes[origins[:, None] + np.arange(1, horizon + 1)]  # [n, H]
    naive_mae = float(np.mean(np.abs(bands["naive"].point - actual)))
    methods = {
        name: score_method(last_close, actual, band, naive_mae) for name, band in bands.items()
    }
    winkler = {
        name: interval_score(actual, b.lower, b.upper, 1 - b.level).mean(axis=1)  # [n]
        for name, b in bands.items()
    }
    dates = frame["Date"]
    scored_dates = pd.to_datetime(dates.iloc[origins + horizon])  # each origin's H-step target
    report: dict[str, Any] = {
        "days": len(origins),
        "first_day": scored_dates.iloc[0].date().isoformat(),
        "last_day": scored_dates.iloc[-1].date().isoformat(),
        "methods": methods,
        "tests": {},
        "daily": {
            "dates": [day.date().isoformat() for day in scored_dates],
            "relative_interval_score": {
                name: (loss / last_close).tolist() for name, loss in winkler.items()
            },
        },
    }
    if "model" in bands:
        abs_error = {name: np.abs(bands[name].point - actual).mean(axis=1) for name in bands}
        tests = {}
        if not np.array_equal(bands["model"].point, bands["naive"].point):
            # a model whose point is the last close makes the naive point test void: left out
            # of the table, so it does not weigh in Holm's correction
            tests["model_vs_naive_abs_error"] = diebold_mariano(
                abs_error["model"], abs_error["naive"], horizon
            )
        for reference in INTERVAL_REFERENCES:
            if reference in bands:
                tests[f"model_vs_{reference}_interval_score"] = diebold_mariano(
                    winkler["model"], winkler[reference], horizon
                )
        report["tests"] = holm_adjusted(tests)
    return report
