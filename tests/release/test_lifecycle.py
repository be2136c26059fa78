"""Versions, promotion and rollback, against a real TorchServe of this module's own.

The story the fixtures play, in order: the model store starts with the session's packaged model
as champion (what `make run` deploys); `make retrain` with the champion's own recipe on the same
prices ties with it and is promoted; a deliberately worse challenger (a network of hidden size 2
trained for one epoch, its band scaled to a third) is registered but not promoted; the default
is switched back and forth under load; `make rollback` restores the champion, twice to no
further effect; and a TorchServe restarted on the same store serves the version promoted last.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from stockcast.app.layout import ProjectLayout
from stockcast.backtest.promotion import (
    CHAMPION_BASIS,
    REFERENCE,
    REFERENCE_BASIS,
    PromotionRule,
    compare,
)
from stockcast.bench.soak import Load
from stockcast.errors import DataSourceError
from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.model.forecaster import SPEC_FILE, Forecaster
from stockcast.release import lifecycle
from stockcast.release.lifecycle import challenger_version, judge, train_challenger
from stockcast.release.management import ManagementClient
from stockcast.release.packaging import build_mar, versioned_archive
from stockcast.release.registry import CHAMPION, PREVIOUS, SERVED_TAG, Registry
from stockcast.release.versions import archive_version
from stockcast.stack.torchserve import LocalTorchServe, Ports, free_port

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
# the session's trained_run recipe (tests/conftest.py), spelled for the lifecycle config
RECIPE = ("trainer.max_epochs=3", "model.net.hidden_size=16", "trainer.enable_progress_bar=false")
LAST_DAYS = 60


def live(test):
    """Marks a test that needs this module's real TorchServe (slow, integration)."""
    return pytest.mark.slow(pytest.mark.integration(test))


def lifecycle_cfg(output_dir: Path, *overrides: str) -> DictConfig:
    """conf/lifecycle.yaml as `python lifecycle.py` composes it, writing under `output_dir`."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="lifecycle", overrides=[f"paths.data_dir={ROOT / 'data'}", *overrides]
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def settings(server: LocalTorchServe, store: Path, data_dir: Path) -> tuple[str, ...]:
    return (
        f"lifecycle.management_url={server.management_url}",
        f"lifecycle.inference_url={server.inference_url}",
        f"lifecycle.model_store={store}",
        f"lifecycle.data_dir={data_dir}",
        "lifecycle.refresh=false",
        f"lifecycle.last_days={LAST_DAYS}",
    )


def run_lifecycle(command: str, run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`python lifecycle.py command=...` from the project root, as `make retrain` runs it."""
    return subprocess.run(
        [
            sys.executable,
            "lifecycle.py",
            f"command={command}",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def answer(server: LocalTorchServe, version: str | None = None) -> dict[str, Any]:
    url = server.prediction_url + (f"/{version}" if version else "")
    response = requests.post(url, data=LAYOUT.sample_upload(), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# --- without a server: names, the rule, the state ---------------------------------------------


def test_a_challenger_is_named_by_its_last_day_its_prices_and_its_recipe(tmp_path):
    frame = read_ohlcv_csv(LAYOUT.sample_csv)
    cfg = lifecycle_cfg(tmp_path, *RECIPE)
    version = challenger_version(cfg, frame)
    assert version.startswith("20130301.") and len(version) == len("20130301.") + 8
    assert (
        challenger_version(lifecycle_cfg(tmp_path, *RECIPE, "paths.data_dir=/elsewhere"), frame)
        == version
    )
    assert challenger_version(lifecycle_cfg(tmp_path, *RECIPE, "seed=7"), frame) != version
    assert challenger_version(cfg, frame.iloc[:-1]).startswith("20130228.")


def test_versions_are_compared_only_on_days_neither_held_out_model_learned_from(tiny_run):
    model = Forecaster.load(tiny_run / "artifact")
    learned_until = model.info["trained_until"]
    frame = read_ohlcv_csv(LAYOUT.sample_csv)
    comparison = compare(model, model, {"GOOG": frame}, last_days=5000, upload_rows=250)
    assert comparison["basis"] == CHAMPION_BASIS
    assert comparison["unseen_after"] == learned_until[:10]
    first_unseen = frame.loc[frame["Date"] > learned_until, "Date"].iloc[0]  # the next session
    assert comparison["first_day"] == first_unseen.date().isoformat()
    assert comparison["last_day"] == "2013-03-01"
    assert comparison["champion"] == comparison["challenger"]
    later = Forecaster.load(tiny_run / "artifact")
    later.info["trained_until"] = "2013-02-01T00:00:00"  # a model that saw January 2013
    assert compare(model, later, {"GOOG": frame}, 5000, 250)["first_day"] == "2013-02-04"


def test_a_champion_that_learned_every_day_is_replaced_on_the_reference_alone(tiny_run):
    """Offline, a champion trained on every row has no day left to be judged on, and the prices
    do not grow: the decision is made on the challenger's unseen days against the fixed
    reference instead of waiting for days that never come."""
    challenger = Forecaster.load(tiny_run / "artifact")
    champion = Forecaster.load(tiny_run / "artifact")
    champion.info["trained_until"] = "2013-03-01T00:00:00"  # the data's last day
    frame = read_ohlcv_csv(LAYOUT.sample_csv)
    comparison = compare(champion, challenger, {"GOOG": frame}, 60, 250, min_days=20)
    assert comparison["basis"] == REFERENCE_BASIS
    assert comparison["stalled"] == {"days": 0, "unseen_after": "2013-03-01"}
    assert comparison["days"] == 60 and "champion" not in comparison
    rule = PromotionRule(0.01, 0.005, min_days=20, reference_margin=0.05)
    objections = rule.objections(comparison)
    # decided on the reference alone: promoted exactly when within its margin
    within = comparison["challenger"]["winkler"] <= comparison[REFERENCE]["winkler"] * 1.05
    assert (objections == []) == within
    assert all("GARCH(1,1)-t reference" in objection for objection in objections)


def test_a_history_rewritten_by_an_adjustment_is_reported(tmp_path):
    """A champion whose learned prices read differently today (a dividend re-scaled the past)."""
    frame = read_ohlcv_csv(LAYOUT.sample_csv)
    until = "2011-03-18T00:00:00"
    twin = tmp_path / "heldout" / "v1"
    twin.mkdir(parents=True)
    learned = frame[frame["Date"] <= until]
    info = {"tickers": ["GOOG"], "trained_until": until, "data_sha256": ohlcv_sha256(learned)}
    (twin / SPEC_FILE).write_text(json.dumps({"info": info}))
    assert lifecycle.rewritten_history(tmp_path, "v1", {"GOOG": frame}) is None
    adjusted = frame.copy()
    adjusted[["Open", "High", "Low", "Close"]] *= 0.99  # a 1% dividend adjustment
    line = lifecycle.rewritten_history(tmp_path, "v1", {"GOOG": adjusted})
    assert line.startswith("history rewritten: the prices v1 learned from (up to 2011-03-18)")
    # days after the champion's last one may change freely
    later = frame.copy()
    later.loc[later["Date"] > until, "Close"] *= 1.01
    assert lifecycle.rewritten_history(tmp_path, "v1", {"GOOG": later}) is None


def test_a_refresh_downloads_into_the_lifecycle_cache_and_offline_falls_back_to_the_cache(
    tmp_path, monkeypatch
):
    cfg = lifecycle_cfg(
        tmp_path / "run", "data.ticker=GOOG", f"lifecycle.data_dir={tmp_path / 'live'}"
    )
    sample = read_ohlcv_csv(LAYOUT.sample_csv)

    def offline(*args: object) -> pd.DataFrame:
        raise DataSourceError("Yahoo Finance returned no rows (Could not resolve host)")

    monkeypatch.setattr(lifecycle, "download", offline)
    # offline with nothing downloaded yet: a copy of the training cache, the bundled file intact
    assert lifecycle.refreshed_prices(cfg) == (tmp_path / "live", f"cache {LAYOUT.sample_csv}")
    assert (tmp_path / "live" / "GOOG.csv").read_bytes() == LAYOUT.sample_csv.read_bytes()
    monkeypatch.setattr(lifecycle, "download", lambda *args: sample.iloc[:-5])
    data_dir, source = lifecycle.refreshed_prices(cfg)
    assert data_dir == tmp_path / "live" and source.startswith("downloaded")
    assert len(read_ohlcv_csv(data_dir / "GOOG.csv")) == len(sample) - 5  # not the bundled file
    monkeypatch.setattr(lifecycle, "download", offline)  # offline again: the last download
    assert lifecycle.refreshed_prices(cfg) == (tmp_path / "live", f"cache {data_dir / 'GOOG.csv'}")


def systemd_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "systemd" / name)
    return unit


def test_the_daily_schedule_runs_the_same_command_as_by_hand():
    """The service's command, dry-run by make in the checkout, is the lifecycle's retrain."""
    service = systemd_unit("stockcast-retrain.service")["Service"]
    assert service["Type"] == "oneshot"
    program, *args = shlex.split(service["ExecStart"])
    assert Path(program).name == "make"
    # as systemd runs it: not inside another make (whose MAKEFLAGS would add make's own lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    last = shlex.split(dry_run.stdout.strip().splitlines()[-1])  # the target's own recipe
    assert Path(last[0]).name.startswith("python") and last[1:] == [
        "lifecycle.py",
        "command=retrain",
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_timer_fires_once_a_weekday_after_the_us_close_and_catches_up_after_downtime():
    timer = systemd_unit("stockcast-retrain.timer")["Timer"]
    assert timer["Persistent"] == "true"
    result = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=10", timer["OnCalendar"]],
        capture_output=True,
        text=True,
        check=True,
    )
    elapses = [
        pd.Timestamp(line.split(": ", 1)[1].split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #"))
    ]
    assert len(elapses) == 10
    new_york = [elapse.tz_convert("America/New_York") for elapse in elapses]
    assert all(day.weekday() < 5 and day.hour >= 17 for day in new_york)  # the close is 16:00
    assert len({day.date() for day in new_york}) == 10  # once a day
    assert {day.weekday() for day in new_york} == set(range(5))


# --- against a real TorchServe ------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """This module's own tracking store and model registry, for `python lifecycle.py` and the
    judging done here alike (MLFLOW_TRACKING_URI, which both read)."""
    before = os.environ["MLFLOW_TRACKING_URI"]
    uri = f"sqlite:///{tmp_path_factory.mktemp('lifecycle_registry') / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield Registry(uri, LAYOUT.model_name)
    os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="module")
def store(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding what `make run` deploys: stockcast.mar, the champion."""
    store = tmp_path_factory.mktemp("lifecycle_store")
    build_mar(LAYOUT, trained_run, store)
    return store


@pytest.fixture(scope="module")
def server(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTorchServe]:
    server = LocalTorchServe.start(
        LAYOUT, store, tmp_path_factory.mktemp("lifecycle_torchserve"), ports=Ports.free()
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: LocalTorchServe) -> ManagementClient:
    return ManagementClient(server.management_url, server.model_name)


@pytest.fixture(scope="module")
def champion(client: ManagementClient) -> str:
    return client.default_version()


@pytest.fixture(scope="module")
def promotion(server, store, champion, registry, tmp_path_factory) -> dict[str, Any]:
    """`make retrain` with the champion's recipe on the same prices: a tie, so it is promoted."""
    work = tmp_path_factory.mktemp("retrain")
    result = run_lifecycle(
        "retrain", work / "run", *RECIPE, *settings(server, store, work / "data")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    decision = json.loads((work / "run" / "decision.json").read_text())
    return {
        "result": result,
        "decision": decision,
        "work": work,
    }


@pytest.fixture(scope="module")
def rejection(promotion, server, store, client, tmp_path_factory) -> dict[str, Any]:
    """A deliberately worse challenger, judged exactly as `make retrain` judges one."""
    work = tmp_path_factory.mktemp("worse")
    overrides = (
        "trainer.max_epochs=1",
        "model.net.hidden_size=2",
        "trainer.enable_progress_bar=false",
    )
    cfg = lifecycle_cfg(work, *overrides, *settings(server, store, work / "data"))
    run = train_challenger(cfg, ROOT / "data", work / "challenger")
    for artifact in (run / "artifact", run / "refit" / "artifact"):  # a band a third as wide
        spec = json.loads((artifact / SPEC_FILE).read_text())
        spec["calibration"]["quantiles"] = [q / 3 for q in spec["calibration"]["quantiles"]]
        spec["calibration"]["self_rows"] = 0  # served as stored: no upload may repair it
        (artifact / SPEC_FILE).write_text(json.dumps(spec))
    frame = read_ohlcv_csv(LAYOUT.sample_csv)
    version = challenger_version(cfg, frame)
    build_mar(
        LAYOUT, run, store, version=version, file_name=versioned_archive(version, LAYOUT.model_name)
    )
    return judge(cfg, client, client.default_version(), version, {"GOOG": frame}, run)


@live
def test_retrain_registers_the_challenger_and_promotes_it_when_it_is_not_worse(
    promotion, server, store, champion, client, registry
):
    decision = promotion["decision"]
    challenger = decision["challenger"]
    assert decision["promoted"] and decision["champion"] == champion
    assert decision["comparison"]["days"] == LAST_DAYS
    assert decision["comparison"]["last_day"] == "2013-03-01"
    assert set(client.versions()) == {champion, challenger}
    assert client.default_version() == challenger
    # the decision table, with both models' figures
    stdout = promotion["result"].stdout
    assert f"champion {champion} against challenger {challenger}" in stdout
    assert "interval score" in stdout and f"promoted: {challenger} is the default now" in stdout
    # what is served now learned up to the data's last row, and says which archive it is
    served = answer(server)["model"]
    assert served["version"] == challenger and served["trained_until"][:10] == "2013-03-01"
    assert archive_version(store / "stockcast.mar") == challenger  # what a restart loads
    assert (store / versioned_archive(champion, LAYOUT.model_name)).is_file()  # kept for a rollback
    # the registry says so: the champion alias on the promoted version, the one it replaced kept
    # for a rollback, each version with its TorchServe version string and the data it learned
    assert registry.served(CHAMPION) == challenger and registry.served(PREVIOUS) == champion
    promoted = registry.version(challenger)
    assert promoted.tags[SERVED_TAG] == challenger
    assert promoted.tags["trained_until"][:10] == "2013-03-01"
    assert promoted.tags["decision.promoted"] == "true"
    assert promoted.tags["decision.champion"] == champion


@live
def test_retrain_on_unchanged_prices_and_recipe_changes_nothing(promotion, server, store, client):
    again = run_lifecycle(
        "retrain",
        promotion["work"] / "again",
        *RECIPE,
        *settings(server, store, promotion["work"] / "data"),
    )
    assert again.returncode == 0, again.stderr[-3000:]
    challenger = promotion["decision"]["challenger"]
    assert f"challenger: {challenger} (same data, same recipe) was judged" in again.stdout
    assert not (promotion["work"] / "again" / "challenger").exists()  # nothing trained
    assert client.default_version() == challenger


@live
def test_a_worse_challenger_is_registered_but_not_promoted(
    rejection, promotion, server, client, registry
):
    worse, promoted = rejection["challenger"], promotion["decision"]["challenger"]
    assert not rejection["promoted"]
    assert registry.served(CHAMPION) == promoted
    assert registry.version(worse).tags["decision.promoted"] == "false"
    assert any(objection.startswith("interval score") for objection in rejection["objections"])
    comparison = rejection["comparison"]
    assert comparison["challenger"]["coverage"] < comparison["champion"]["coverage"]
    assert worse in client.versions() and client.default_version() == promoted
    assert answer(server, worse)["model"]["version"] == worse  # there to inspect


@live
def test_every_version_answers_at_its_own_endpoint_and_the_default_at_the_plain_one(
    rejection, promotion, server, champion
):
    promoted = promotion["decision"]["challenger"]
    for version in (champion, promoted, rejection["challenger"]):
        assert answer(server, version)["model"]["version"] == version
    assert answer(server)["model"]["version"] == promoted


@live
def test_every_version_reports_its_own_coverage_and_drift_metrics(
    rejection, promotion, server, champion
):
    versions = {champion, promotion["decision"]["challenger"], rejection["challenger"]}
    for version in versions:
        answer(server, version)

    def labelled(name: str) -> set[str]:
        lines = requests.get(server.metrics_url, timeout=10).text.splitlines()
        return {
            v
            for v in versions
            for line in lines
            if line.startswith(name) and f'version="{v}"' in line
        }

    deadline = time.monotonic() + 20  # the frontend parses worker metrics asynchronously
    while labelled("stockcast_backtest_covered{") != versions and time.monotonic() < deadline:
        time.sleep(0.5)
    for name in (
        "stockcast_backtest_scored{",
        "stockcast_backtest_covered{",
        "stockcast_input_volatility_percentile_count{",
        "stockcast_input_return_percentile_count{",
    ):
        assert labelled(name) == versions, name


@live
def test_switching_the_default_under_load_fails_no_request(
    rejection, promotion, server, client, champion
):
    promoted = promotion["decision"]["challenger"]
    switches = 0
    with Load(
        server.prediction_url, LAYOUT.sample_upload(), concurrency=8, max_requests=100_000
    ) as load:
        time.sleep(1.0)
        for version in [champion, promoted] * 5:
            client.set_default(version)
            switches += 1
            time.sleep(0.5)
        time.sleep(1.0)
    samples = load.samples
    failed = [sample for sample in samples if not sample.ok]
    print(
        f"\nswitch under load: {switches} switches, {len(samples)} requests, {len(failed)} failed"
    )
    assert len(samples) > 100
    assert not failed, failed[:5]
    assert client.default_version() == promoted


@live
def test_rollback_restores_the_champion_and_a_second_one_changes_nothing(
    rejection, promotion, server, store, client, champion, registry, tmp_path
):
    overrides = (
        f"lifecycle.management_url={server.management_url}",
        f"lifecycle.model_store={store}",
    )
    first = run_lifecycle("rollback", tmp_path / "first", *overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    promoted = promotion["decision"]["challenger"]
    assert f"rolled back: {champion} is the default again (was {promoted})" in first.stdout
    assert client.default_version() == champion == answer(server)["model"]["version"]
    second = run_lifecycle("rollback", tmp_path / "second", *overrides)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "nothing to roll back" in second.stdout
    assert client.default_version() == champion
    assert archive_version(store / "stockcast.mar") == champion
    assert registry.served(CHAMPION) == champion and registry.served(PREVIOUS) is None


@pytest.mark.slow
@pytest.mark.parametrize("command", ["retrain", "rollback"])
def test_without_a_running_torchserve_both_refuse_in_one_line(command, tmp_path):
    result = run_lifecycle(
        command, tmp_path / "run", f"lifecycle.management_url=http://127.0.0.1:{free_port()}"
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: TorchServe is not running at http://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "challenger").exists()  # refused before training


@live
def test_a_restarted_torchserve_serves_the_version_promoted_or_restored_last(
    rejection, promotion, server, store, champion, registry, tmp_path
):
    """Runs last: it stops this module's server."""
    assert registry.served(CHAMPION) == champion  # after the rollback
    server.stop()
    restarted = LocalTorchServe.start(LAYOUT, store, tmp_path / "restarted", ports=Ports.free())
    try:
        assert restarted.describe()["modelVersion"] == champion
        assert answer(restarted)["model"]["version"] == champion
    finally:
        restarted.stop()
