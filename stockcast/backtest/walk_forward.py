"""Rolling-origin evaluation of the project's model: which days are scored, when it is refit, and
the band it serves on each day, from an in-process refit or from a live endpoint.

An origin `i` is a row position of the price frame: the forecast made there knows rows `..i`
only and targets the closes of rows `i+1..i+H`. The model is refit every `refit_every` origins on
everything up to the first origin of the block it then forecasts (its validation and calibration
splits are the most recent rows of that history, never a scored day); `refit_every=0` fits once
before the first scored day. Each day's forecast is what the service answers for an upload of the
`upload_rows` rows up to that day.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from stockcast.errors import StockcastError
from stockcast.evaluation.references import Band
from stockcast.model.forecaster import ARTIFACT_DIR, Forecaster


class BacktestError(StockcastError):
    """A backtest that cannot run as configured (too many days asked, an unknown method...)."""


@dataclass(frozen=True)
class Fold:
    """One refit: the model trained on rows up to `origins[0]` forecasts every origin here."""

    number: int
    origins: np.ndarray  # [m] row positions, ascending

    @property
    def fit_until(self) -> int:
        """The last row the fold's model may learn from (its first origin)."""
        return int(self.origins[0])


def scored_origins(n_rows: int, last_days: int, horizon: int, min_history: int) -> np.ndarray:
    """Origins whose H-step targets are the last `last_days` rows, each day scored once at
    step H (steps before it are scored too, on the rows before).

    Raises BacktestError when fewer than `min_history` rows would precede the first origin.
    """
    if last_days < 1:
        raise BacktestError(f"backtest.last_days must be at least 1, got {last_days}")
    first = n_rows - last_days - horizon
    if first + 1 < min_history:
        most = max(n_rows - horizon - min_history + 1, 0)
        raise BacktestError(
            f"backtest.last_days={last_days} leaves {max(first + 1, 0)} rows before the first "
            f"scored day, and the methods need at least {min_history} (training and the 250-day "
            f"reference windows); this series of {n_rows} rows allows backtest.last_days<={most}"
        )
    return np.arange(first, n_rows - horizon)


def plan_folds(origins: np.ndarray, refit_every: int) -> list[Fold]:
    """Consecutive blocks of `refit_every` origins (0: one block), each refit before its start."""
    if refit_every < 0:
        raise BacktestError(f"backtest.refit_every must be 0 (fit once) or more, got {refit_every}")
    size = refit_every or len(origins)
    return [
        Fold(number, origins[start : start + size])
        for number, start in enumerate(range(0, len(origins), size))
    ]


def fold_config(
    cfg: dict[str, Any], tickers: list[str], fold: Fold, dates: pd.Series, output_dir: Path
) -> DictConfig:
    """The training config of one refit, from the backtest's unresolved config: `tickers`, all
    cut at the fold's first origin, no test split, its own output directory, quiet."""
    fold_cfg = OmegaConf.create(cfg)
    fold_cfg.data.ticker = None
    fold_cfg.data.tickers = list(tickers)
    fold_cfg.data.end = pd.Timestamp(dates.iloc[fold.fit_until]).isoformat()
    fold_cfg.data.test_fraction = 0.0
    fold_cfg.paths.output_dir = str(output_dir)
    fold_cfg.trainer.default_root_dir = str(output_dir)
    fold_cfg.trainer.enable_progress_bar = False
    fold_cfg.trainer.enable_model_summary = False
    if fold_cfg.get("callbacks"):
        fold_cfg.callbacks.pop("rich_progress_bar", None)
    fold_cfg.pop("backtest", None)
    return fold_cfg


@dataclass(frozen=True)
class FoldForecast:
    """What one refit serves on its fold's origins, with and without the network.

    served: (point, lower, upper) [m, H], the band users get.
    ablated: the same from `forecaster.ablated()`: the served band with the network's
        contribution removed, what the rest of the recipe earns on its own.
    info: the fold's dates and the artifact's info.
    """

    served: tuple[np.ndarray, np.ndarray, np.ndarray]
    ablated: tuple[np.ndarray, np.ndarray, np.ndarray]
    info: dict[str, Any]


# the packages whose code decides what a refit learns and serves (a fold cache key covers them)
TRAINING_CODE = ("inputs", "market", "model", "training")


def fold_key(fold_cfg: DictConfig, data_files: list[Path]) -> str:
    """What decides a fold's model: its config without where it writes (unresolved, so the
    output directories interpolated into callbacks and loggers read the same in every job), the
    code that trains and serves it, and the price files it reads. Two folds with one key train
    the same network from the same rows with the same seed."""
    recipe = OmegaConf.to_container(fold_cfg, resolve=False)
    for where in ("paths", "hydra", "logger"):
        recipe.pop(where, None)
    recipe.get("trainer", {}).pop("default_root_dir", None)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode())
    package = Path(__file__).resolve().parents[1]
    code = [path for part in TRAINING_CODE for path in sorted((package / part).rglob("*.py"))]
    for path in code + sorted(data_files):
        digest.update(path.read_bytes() if path.is_file() else str(path).encode())
    return digest.hexdigest()[:16]


def fit_and_forecast(
    cfg: dict[str, Any],
    tickers: list[str],
    fold: Fold,
    frame: pd.DataFrame,
    output_dir: Path,
    upload_rows: int,
    cache_dir: Path | None = None,
) -> FoldForecast:
    """Refit on the `tickers`' history up to the fold, then serve every origin of the fold in
    process, as trained and with the network ablated.

    With `cache_dir`, a fold whose recipe (`fold_key`) was trained before reuses that artifact:
    the jobs of a sweep that score each ticker with one global model train each of its refits
    once instead of once per ticker. Runs in a worker process: imports training (Lightning,
    Hydra) only here, and uses one intra-op thread so parallel folds do not fight over the cores.
    """
    import torch

    from stockcast.app.resolvers import register_resolvers
    from stockcast.training.run import train

    torch.set_num_threads(1)
    register_resolvers()
    fold_cfg = fold_config(cfg, tickers, fold, frame["Date"], output_dir)
    files = (
        [Path(fold_cfg.data.path)]
        if fold_cfg.data.get("path")
        else [Path(fold_cfg.paths.data_dir) / f"{ticker}.csv" for ticker in tickers]
    )
    cached = cache_dir / fold_key(fold_cfg, files) if cache_dir else None
    if cached is not None and (cached / ARTIFACT_DIR).is_dir():
        artifact = cached / ARTIFACT_DIR
    else:
        train(fold_cfg)
        artifact = output_dir / ARTIFACT_DIR
        if cached is not None:
            cached.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=cached))
            shutil.copytree(artifact, staging / ARTIFACT_DIR)
            (staging / ARTIFACT_DIR).rename(cached / ARTIFACT_DIR)  # whole, or not at all
            staging.rmdir()
    forecaster = Forecaster.load(artifact)
    dates = frame["Date"]
    return FoldForecast(
        served=served_band(forecaster, frame, fold.origins, upload_rows),
        ablated=served_band(forecaster.ablated(), frame, fold.origins, upload_rows),
        info={
            "fold": fold.number,
            "fit_until": pd.Timestamp(dates.iloc[fold.fit_until]).isoformat(),
            "scores_from": pd.Timestamp(dates.iloc[fold.fit_until + 1]).isoformat(),
            **forecaster.info,
        },
    )


def upload(frame: pd.DataFrame, origin: int, upload_rows: int) -> pd.DataFrame:
    """The rows a user would send on the day of `origin`: the last `upload_rows` up to it."""
    return frame.iloc[max(0, origin + 1 - upload_rows) : origin + 1].reset_index(drop=True)


def served_band(
    forecaster: Forecaster, frame: pd.DataFrame, origins: np.ndarray, upload_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, lower, upper) [m, H] exactly as `Forecaster.predict_frames` answers the uploads."""
    answers = forecaster.predict_frames([upload(frame, int(o), upload_rows) for o in origins])
    return _stack(answers)


def endpoint_band(
    url: str,
    frame: pd.DataFrame,
    origins: np.ndarray,
    upload_rows: int,
    horizon: int,
    concurrency: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """POST each day's upload to a live prediction URL and collect what users receive."""

    def post(origin: int) -> dict:
        body = io.StringIO()
        rows = upload(frame, origin, upload_rows).copy()
        rows["Date"] = rows["Date"].map(lambda ts: pd.Timestamp(ts).isoformat())
        rows.to_csv(body, index=False)
        request = urllib.request.Request(
            url, data=body.getvalue().encode(), headers={"Content-Type": "text/csv"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise BacktestError(
                f"{url} answered {error.code} for the upload ending "
                f"{rows['Date'].iloc[-1]}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise BacktestError(f"cannot reach backtest.endpoint={url}: {error}") from None

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(post, [int(o) for o in origins]))
    served = answers[0]["model"]
    if int(served["horizon"]) != horizon:
        raise BacktestError(
            f"the model at {url} forecasts {served['horizon']} step(s), the backtest asks for "
            f"data.horizon={horizon}; set data.horizon={served['horizon']}"
        )
    return (*_stack(answers), served)


def learned_from(served: dict[str, Any], ticker: str, scored_days: pd.Series) -> str | None:
    """One line when a served model (an answer's "model" block) trained on `ticker` and learned
    from rows up to a date on or after the first of `scored_days`: those days are in its sample,
    and its scores on them flatter it. None when no scored day is one it learned from."""
    trained_on = [str(name).upper() for name in served.get("tickers") or []]
    dates = [served.get(key) for key in ("trained_until", "calibrated_until")]
    dates = [_naive(date) for date in dates if date]
    if ticker.upper() not in trained_on or not dates:
        return None
    until = max(dates)
    seen = int(np.count_nonzero(pd.to_datetime(scored_days).map(_naive) <= until))
    if not seen:
        return None
    return (
        f"{seen} of the {len(scored_days)} scored days fall on or before {until.date()}, the last "
        f"row the served model learned from, and it trained on {ticker.upper()}: on those days "
        f"its scores are in-sample"
    )


def _naive(value: Any) -> pd.Timestamp:
    """A timestamp without its zone, so dates from any source compare."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def _stack(answers: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def column(key: str) -> np.ndarray:
        return np.array([[step[key] for step in a["forecast"]] for a in answers])  # [m, H]

    return column("close"), column("lower"), column("upper")


def model_band(name: str, level: float, parts: list[tuple[np.ndarray, ...]]) -> Band:
    """Concatenate per-fold (point, lower, upper) in origin order into one Band."""
    point, lower, upper = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return Band(name, level, point, lower, upper)
