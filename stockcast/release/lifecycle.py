"""`make retrain` and `make rollback` (python lifecycle.py command=retrain|rollback).

retrain:  refresh the prices (yfinance, or the cache offline) -> train a challenger and its
          deployable refit -> package it as its own version -> register it in the MLflow model
          registry (alias `challenger`) and with TorchServe (the default does not change) ->
          check its version endpoint -> compare the held-out twins of champion and challenger
          on the same unseen days -> move the alias `champion` (and TorchServe's default) to it
          only if the rule in conf/lifecycle/default.yaml says so -> print the decision table.
rollback: move `champion` (and TorchServe's default) back to the version the last promotion
          replaced (the alias `previous`).

The registry is the record (stockcast/release/registry.py): the champion is its alias, the
decisions are tags of the versions and decision.json in the lifecycle job's MLflow run, and the
model store is a copy of it (every version's archive, `stockcast.mar` = the champion's, so a
restart serves it). When TorchServe's default is not the registry's champion, TorchServe is
brought back to the champion first, and says so.

Both refuse in one line when TorchServe does not answer, and both are idempotent: a challenger
is named by its data and recipe (`<last date>.<hash>`), so retraining on unchanged data prints
the earlier decision, and a second rollback finds nothing left to undo. Switching the default is
one in-memory pointer change in TorchServe (no request is lost, tests/release/test_lifecycle.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
import requests
from omegaconf import DictConfig, OmegaConf

from stockcast.app.layout import ProjectLayout
from stockcast.app.stamp import load_average, write_stamped
from stockcast.backtest.promotion import (
    DECISION_RESULTS,
    RULE_VERSION,
    PromotionRule,
    compare,
    print_decision,
)
from stockcast.errors import DataSourceError, LifecycleError
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.market.prices import cache_path, download, write_csv_atomic
from stockcast.model.forecaster import SPEC_FILE
from stockcast.release.management import ManagementClient
from stockcast.release.packaging import HELDOUT_DIR, archive_source, build_mar, versioned_archive
from stockcast.release.registry import CHALLENGER, CHAMPION, PREVIOUS, Registry
from stockcast.release.versions import default_archive, heldout_forecaster
from stockcast.training.run import train

# the config groups that make a challenger what it is: same data and same recipe, same version
RECIPE = ("data", "model", "trainer", "callbacks", "calibration", "seed", "refit")


def retrain(cfg: DictConfig, layout: ProjectLayout) -> int:
    """Train, register and judge a challenger; promote it when it wins (module docstring)."""
    settings = cfg.lifecycle
    client = management_client(cfg)
    client.check()
    store = Path(settings.model_store)
    registry = registry_of(cfg)
    champion = served_champion(client, registry, store)
    data_dir, source = refreshed_prices(cfg)
    frames = {
        ticker: hydra.utils.instantiate(
            cfg.data, ticker=ticker, data_dir=str(data_dir)
        ).load_frame()
        for ticker in tickers_of(cfg)
    }
    print(f"data:       {source}")
    for ticker, frame in frames.items():
        print(f"            {ticker}: {len(frame)} rows up to {frame['Date'].iloc[-1].date()}")
    version = challenger_version(cfg, pd.concat(frames.values(), ignore_index=True))
    earlier = registry.version(version)
    if earlier is not None and "decision.promoted" in earlier.tags:
        tags = earlier.tags
        verdict = "promoted" if tags["decision.promoted"] == "true" else "not promoted: "
        verdict += tags["decision.objections"]
        print(
            f"challenger: {version} (same data, same recipe) was judged at "
            f"{tags['decision.at']}: {verdict}"
        )
        return 0
    print(f"champion:   {champion}\nchallenger: {version}")
    rewritten = rewritten_history(store, champion, frames)
    if rewritten:
        print(rewritten)
    archive = versioned_archive(version, cfg.model_name)
    run = Path(cfg.paths.output_dir) / "challenger"
    if not (store / archive).is_file():
        train_challenger(cfg, data_dir, run)
        build_mar(layout, run, store, version=version, model_name=cfg.model_name, file_name=archive)
    judge(cfg, client, champion, version, frames, run if run.is_dir() else None)
    return 0


def served_champion(client: ManagementClient, registry: Registry, store: Path) -> str:
    """The registry's champion, with TorchServe's default brought to it when they differ. A
    registry without one (a model store deployed before it kept the record) takes TorchServe's
    default as its champion."""
    default = client.default_version()
    champion = registry.served(CHAMPION)
    if champion is None:
        if default is None:
            raise LifecycleError(
                f"no {client.model_name} model is registered at {client.url}: `make run`"
            )
        source = archive_source(default_archive(store, registry.name))
        registry.register(store, default, source.run if source is not None else None)
        registry.deploy(default)
        return default
    if default != champion:
        print(f"TorchServe served {default} by default; the registry's champion is {champion}")
        make_default(client, registry, store, champion)
    registry.sync(store)
    return champion


def make_default(client: ManagementClient, registry: Registry, store: Path, version: str) -> None:
    """TorchServe's default becomes `version`, registered from the store (its archive fetched
    from the registry when the store lacks it)."""
    archive = registry.fetch(version, store)
    if version not in client.versions():
        client.register(archive.name)
    client.set_default(version)


def judge(
    cfg: DictConfig,
    client: ManagementClient,
    champion: str,
    version: str,
    frames: dict[str, pd.DataFrame],
    run: Path | None = None,
) -> dict[str, Any]:
    """Register the packaged challenger `version` (trained in `run`) in the registry and with
    TorchServe, compare it with `champion` on every training ticker in `frames` and promote it
    if it wins; record, print and return the decision."""
    load_before = load_average()
    settings = cfg.lifecycle
    store, name = Path(settings.model_store), cfg.model_name
    registry = registry_of(cfg)
    registry.register(store, version, run)
    registry.point(CHALLENGER, version)
    if version not in client.versions():
        print(f"registering {versioned_archive(version, name)} ...")
        client.register(versioned_archive(version, name))
    served = {
        role: served_model(cfg, v, next(iter(frames.values())))
        for role, v in (("champion", champion), ("challenger", version))
    }
    registry.fetch(champion, store)
    with tempfile.TemporaryDirectory() as scratch:
        comparison = compare(
            heldout_forecaster(store, champion, name, Path(scratch)),
            heldout_forecaster(store, version, name, Path(scratch)),
            frames,
            settings.last_days,
            settings.upload_rows,
            settings.min_days,
        )
    rule = PromotionRule(**settings.rule, min_days=settings.min_days)
    objections = rule.objections(comparison)
    if not objections:
        client.set_default(version)
        registry.promote(version)
        registry.sync(store)
    decision = {
        "at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "champion": champion,
        "challenger": version,
        "promoted": not objections,
        "objections": objections,
        "rule": rule.statement(),
        "rule_version": RULE_VERSION,
        "basis": comparison["basis"],
        "tests": rule.tests(comparison),
        "comparison": comparison,
        "trained_until": {role: model["trained_until"] for role, model in served.items()},
        "serves": {
            role: f"/predictions/{name}/{model['version']}" for role, model in served.items()
        },
    }
    registry.record_decision(version, decision)
    # stamped like every measurement, so `make results FROM=<this run>` can publish the table
    decision = write_stamped(
        Path(cfg.paths.output_dir) / "decision.json", DECISION_RESULTS, decision, load_before
    )
    print_decision(decision)
    keep = {registry.served(CHAMPION), registry.served(PREVIOUS), version}
    prune(client, registry, keep)
    return decision


def rollback(cfg: DictConfig) -> int:
    """Make the version that the last promotion replaced the champion again (at most once)."""
    settings = cfg.lifecycle
    client = management_client(cfg)
    client.check()
    store = Path(settings.model_store)
    registry = registry_of(cfg)
    current = served_champion(client, registry, store)
    target = registry.served(PREVIOUS)
    if target is None:
        print(f"nothing to roll back: {current} is the default and no promotion is left to undo")
        return 0
    make_default(client, registry, store, target)
    registry.point(CHAMPION, target)
    registry.drop(PREVIOUS)
    registry.sync(store)
    print(f"rolled back: {target} is the default again (was {current})")
    return 0


def registry_of(cfg: DictConfig) -> Registry:
    """The model registry of the configured tracking store, for the configured model name."""
    return Registry.at(cfg.paths.mlflow_dir, cfg.model_name)


def management_client(cfg: DictConfig) -> ManagementClient:
    """The configured management API, for the configured model name."""
    settings = cfg.lifecycle
    return ManagementClient(settings.management_url, cfg.model_name, key=settings.management_key)


def rewritten_history(store: Path, champion: str, frames: dict[str, pd.DataFrame]) -> str | None:
    """A line when the prices the champion learned from read differently in today's data, else
    None. Auto-adjusted prices (yfinance's `auto_adjust`) re-scale every earlier close after each
    dividend or split, so the same days can come back as other numbers; the champion's held-out
    twin records a fingerprint of every row it learned from (`data_sha256`)."""
    spec = store / HELDOUT_DIR / champion / SPEC_FILE
    if not spec.is_file():
        return None
    info = json.loads(spec.read_text()).get("info", {})
    recorded, until = info.get("data_sha256"), info.get("trained_until")
    tickers = info.get("tickers") or [info.get("ticker")]
    if not recorded or not until or any(ticker not in frames for ticker in tickers):
        return None
    learned = pd.concat([frames[t][frames[t]["Date"] <= until] for t in tickers], ignore_index=True)
    if ohlcv_sha256(learned) == recorded:
        return None
    return (
        f"history rewritten: the prices {champion} learned from (up to {until[:10]}) read "
        "differently in today's data (a dividend or split adjustment re-scales past prices); "
        "both models are compared on today's prices"
    )


def tickers_of(cfg: DictConfig) -> list[str]:
    """What the model trains on: `data.ticker` alone, else `data.tickers`."""
    return [cfg.data.ticker] if cfg.data.ticker else list(cfg.data.tickers)


def refreshed_prices(cfg: DictConfig) -> tuple[Path, str]:
    """Download every ticker again into lifecycle.data_dir (the bundled samples stay as shipped);
    offline, train on the last download there, else on a copy of the training cache."""
    settings, data = cfg.lifecycle, cfg.data
    sources = []
    for ticker in tickers_of(cfg):
        target = cache_path(settings.data_dir, ticker, data.interval)
        if settings.refresh:
            try:
                frame = download(
                    ticker, data.start or settings.download_from, data.end, data.interval
                )
                write_csv_atomic(frame, target)
                sources.append(f"downloaded {target}")
                continue
            except DataSourceError as error:
                print(f"offline ({error}): training on the cached prices")
        if target.is_file():
            sources.append(f"cache {target}")
            continue
        cached = cache_path(cfg.paths.data_dir, ticker, data.interval)
        if not cached.is_file():
            raise DataSourceError(f"no prices for {ticker}: no download and no {cached}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cached, target)
        sources.append(f"cache {cached}")
    return Path(settings.data_dir), "; ".join(sources)


def challenger_version(cfg: DictConfig, frame: pd.DataFrame) -> str:
    """`<last date>.<8 hex>`: the hash covers the prices and the recipe, not where files live."""
    recipe = {key: OmegaConf.to_container(cfg, resolve=False).get(key) for key in RECIPE}
    for where in ("data_dir", "refresh"):
        recipe["data"].pop(where, None)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    digest.update(frame.to_csv(index=False).encode())
    return f"{pd.Timestamp(frame['Date'].iloc[-1]):%Y%m%d}.{digest.hexdigest()[:8]}"


def train_challenger(cfg: DictConfig, data_dir: Path, output_dir: Path) -> Path:
    """The evaluated run and its deployable refit, from the prices in `data_dir`."""
    run = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    run.data.data_dir, run.data.refresh, run.refit = str(data_dir), False, True
    run.paths.output_dir = run.trainer.default_root_dir = str(output_dir)
    for key in ("lifecycle", "command"):
        run.pop(key)
    train(run)
    return output_dir


def served_model(cfg: DictConfig, version: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The `model` block that `/predictions/<model name>/<version>` answers for the latest
    year."""
    settings = cfg.lifecycle
    body = io.StringIO()
    frame.tail(settings.upload_rows).assign(
        Date=lambda f: f["Date"].map(pd.Timestamp.isoformat)
    ).to_csv(body, index=False)
    headers = {"Content-Type": "text/csv"}
    if settings.inference_key:
        headers["Authorization"] = f"Bearer {settings.inference_key}"
    url = f"{settings.inference_url}/predictions/{cfg.model_name}/{version}"
    try:
        response = requests.post(url, data=body.getvalue(), headers=headers, timeout=60)
    except requests.RequestException as error:
        raise LifecycleError(f"cannot reach {url}: {type(error).__name__}") from None
    if response.status_code != 200:
        raise LifecycleError(f"{url} answered {response.status_code}: {response.text[:300]}")
    model = response.json()["model"]
    if model["version"] != version:
        raise LifecycleError(f"{url} answered as version {model['version']}")
    return model


def prune(client: ManagementClient, registry: Registry, keep: set[str | None]) -> None:
    """Unregister from TorchServe the earlier challengers that are neither the champion, the
    rollback target nor the newest (each holds workers); their archives stay in the registry
    and the model store."""
    for version in client.versions():
        judged = registry.version(version)
        if judged is not None and "decision.promoted" in judged.tags and version not in keep:
            client.unregister(version)
            print(f"unregistered {version} (its archive stays in the registry and the store)")
