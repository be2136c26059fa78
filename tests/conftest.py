"""Shared fixtures: the real Hydra config, shrunk; a tiny untrained artifact for the fast lane and
one short real training run per session for the full one; the sample's rows written as
real-world exports (spreadsheets, Yahoo's website) write them. Also the lanes' markers: a test
that needs the trained run is `slow` whatever it declares, and a test that trains in process
without `slow`, or starts a JVM, browser or Docker without `integration`, fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import hydra
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import requests
import torch
from hydra import compose, initialize_config_dir
from hypothesis import strategies as st
from omegaconf import DictConfig, open_dict

from stockcast.app.layout import ProjectLayout, read_properties
from stockcast.app.resolvers import register_resolvers
from stockcast.bench.soak import LOAD_THREAD_PREFIX
from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.model.calibration import Calibration, conformal_quantiles, window_volatility
from stockcast.model.drift import DriftReference
from stockcast.model.features import RETURN_FEATURE, anchor_closes, compute_features
from stockcast.model.forecaster import ARTIFACT_DIR, Forecaster, network_log_factors
from stockcast.model.network_inputs import network_inputs
from stockcast.model.scaling import Standardizer
from stockcast.model.windows import (
    cumulative_targets,
    sliding_windows,
    split_anchors,
    split_bounds,
)
from stockcast.release.image import IMAGE, DockerUnavailable, build_image, docker, ensure_engine
from stockcast.release.packaging import build_mar
from stockcast.stack.api_contract import ApiContract
from stockcast.stack.torchserve import (
    LocalTorchServe,
    Ports,
    free_port,
    stop_process_group,
)
from stockcast.stack.upload_page import page_origin, start_page_server
from stockcast.training.run import train

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ProjectLayout(ROOT)
CONF_DIR = ROOT / "conf"
SAMPLE_CSV = LAYOUT.sample_csv
# `--suite-json PATH` (the suite record, loaded by pyproject.toml's addopts): `make test` passes it
# pytester: tests/test_lanes.py collects small suites of its own to check the lanes' markers
pytest_plugins = ["pytester"]

register_resolvers()


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every training of the suite (in process, train.py, backtest.py) tracks into one SQLite
    store of the session, never the checkout's outputs/mlflow: MLFLOW_TRACKING_URI, inherited by
    the programs the tests start. A test of the default store removes it with monkeypatch."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


# --- the two lanes: a test's markers follow from what it needs -----------------------------------
# `slow`: trains a model (in process, or through train.py / backtest.py) or runs a long job.
# `integration`: starts a JVM, a server, a browser or Docker. `make test-fast` leaves out both.
# Enforced below for what happens in this process: a test that calls Trainer.fit without `slow`,
# or launches one of INTEGRATION_PROGRAMS without `integration`, fails. A child Python that trains
# (train.py, backtest.py, lifecycle.py command=retrain) is out of reach: mark its test slow.

# fixtures that train when set up: a test using one, directly or through another, is slow
TRAINING_FIXTURES = frozenset({"trained_run"})
# programs that start a JVM, a server, a browser or Docker (Playwright drives Chromium via node;
# initdb and pg_ctl make and start a PostgreSQL cluster)
INTEGRATION_PROGRAMS = frozenset(
    {"java", "torchserve", "prometheus", "chromium", "docker", "node", "initdb", "pg_ctl"}
)

# what the running test's markers allow; everything is allowed outside a test's setup and call
_allowed = {"slow": True, "integration": True}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the trained run `slow`, before `-m` selects a lane."""
    for item in items:
        if TRAINING_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    yield from _within_markers(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield from _within_markers(item)


def _within_markers(item: pytest.Item) -> Generator[None, None, None]:
    """Let the test (and the fixtures it sets up) do only what its markers declare."""
    for name in _allowed:
        _allowed[name] = item.get_closest_marker(name) is not None
    try:
        yield
    finally:
        _allowed.update(slow=True, integration=True)


def _fit_only_in_slow_tests(trainer: pl.Trainer, *args: object, **kwargs: object) -> object:
    if not _allowed["slow"]:
        pytest.fail("this test trains a model (Trainer.fit) but is not marked slow", False)
    return _real_fit(trainer, *args, **kwargs)


_real_fit = pl.Trainer.fit
pl.Trainer.fit = _fit_only_in_slow_tests


def _refuse_undeclared_programs(event: str, args: tuple) -> None:
    """Audit hook: a test that is not `integration` starts no JVM, server, browser or Docker."""
    if event != "subprocess.Popen" or _allowed["integration"]:
        return
    argv = [args[1]] if isinstance(args[1], (str, bytes, Path)) else list(args[1] or [])
    program = Path(str(argv[0] if argv else args[0])).name
    if program in INTEGRATION_PROGRAMS:
        pytest.fail(f"this test starts {program} but is not marked integration", False)


sys.addaudithook(_refuse_undeclared_programs)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides, writing outputs under this test's tmp_path."""

    def _make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_train_cfg(output_dir or tmp_path / "run", *overrides)

    return _make


def compose_train_cfg(output_dir: Path, *overrides: str) -> DictConfig:
    """The real config with small, fast settings; `overrides` win."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                f"paths.data_dir={ROOT / 'data'}",
                "trainer.max_epochs=3",
                "trainer.enable_progress_bar=false",
                "model.net.hidden_size=16",
                "refit=false",  # tests that need the deployable refit ask for it
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.trainer.default_root_dir = str(output_dir)
        del cfg.hydra
    return cfg


def _assert_same_forecast(got: object, expected: object) -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys()
        for key in expected:
            _assert_same_forecast(got[key], expected[key])
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        for item, want in zip(got, expected, strict=True):
            _assert_same_forecast(item, want)
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)
    else:
        assert got == expected


@pytest.fixture(scope="session")
def assert_same_forecast() -> Callable[[object, object], None]:
    """Equal forecast JSON, floats to 1e-9 relative (1e-6 absolute: errors are differences of
    nearly equal prices): float32 matrix kernels round differently
    with the batch size, and requests that share a batch see batches of varying size."""
    return _assert_same_forecast


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real training on the bundled sample; its run directory holds `artifact/`.

    Full lane only: every test that asks for it is marked `slow` at collection."""
    output_dir = tmp_path_factory.mktemp("trained_run")
    train(compose_train_cfg(output_dir))
    return output_dir


# the spread of the tiny network's head: an untrained head is zero (the no-network band), and then
# no served number would depend on the network
TINY_HEAD_STD = 0.3


def build_tiny_run(output_dir: Path, seed: int = 0) -> Path:
    """A run directory whose `artifact/` is a real Forecaster artifact, built without training.

    The test config's network (untrained, seeded, its zero head replaced by a random one so that
    its factor moves the band), the scaler fitted on the sample's training windows, the conformal
    quantiles with and without the network on its calibration rows, the drift table of its
    training returns and the config's calibration settings: the two files and the fields that
    stockcast/training/run.py writes, in milliseconds instead of a training run.
    """
    cfg = compose_train_cfg(output_dir, "data.ticker=GOOG")
    data, settings = cfg.data, cfg.calibration
    frame = read_ohlcv_csv(SAMPLE_CSV)
    features = compute_features(frame)  # [N-1, F]
    closes = anchor_closes(frame)  # [N-1]
    bounds = split_bounds(len(features), data.val_fraction, data.calib_fraction, data.test_fraction)
    anchors = split_anchors(bounds, data.window, data.horizon)
    windows = sliding_windows(torch.from_numpy(features), data.window).numpy()  # [N-W, W, F]
    targets = cumulative_targets(torch.from_numpy(np.log(closes)), data.horizon).numpy()
    vol = (settings.vol_lambda, settings.vol_estimator)
    train_windows = windows[anchors["train"].numpy() - data.window + 1]
    scaler = Standardizer.fit(network_inputs(train_windows, window_volatility(train_windows, *vol)))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = hydra.utils.instantiate(cfg.model.net)
        torch.nn.init.normal_(net.head[-1].weight, std=TINY_HEAD_STD)
    calib = anchors["calib"].numpy()
    calib_windows = windows[calib - data.window + 1]  # [n, W, F]
    sigma = window_volatility(calib_windows, *vol)
    factor = network_log_factors(net, scaler, calib_windows, sigma)
    calibration = Calibration(
        float(settings.level),
        conformal_quantiles(factor, targets[calib], sigma, settings.level),
        conformal_quantiles(np.zeros_like(factor), targets[calib], sigma, settings.level),
        vol_lambda=float(settings.vol_lambda),
        self_rows=int(settings.self_rows),
        prior_rows=int(settings.prior_rows),
        vol_estimator=str(settings.vol_estimator),
    )
    train_start, train_end = target_dates(frame, anchors["train"], data.horizon)
    calib_start, learned = target_dates(frame, anchors["calib"], data.horizon)
    forecaster = Forecaster(
        net,
        scaler,
        calibration,
        window=data.window,
        interval=data.interval,
        calendar=data.calendar,
        drift=DriftReference.fit([features[: bounds.val_start, RETURN_FEATURE]]),
        info={
            "name": cfg.model_name,
            "ticker": "GOOG",
            "tickers": ["GOOG"],
            "trained_on": f"GOOG {train_start[:10]}..{train_end[:10]}",
            "trained_until": learned,
            "selected_until": target_dates(frame, anchors["val"], data.horizon)[1],
            "calibrated_on": f"{calib_start[:10]}..{learned[:10]}",
            "calibrated_until": learned,
            "data_sha256": ohlcv_sha256(frame[frame["Date"] <= learned]),
        },
    )
    forecaster.save(output_dir / ARTIFACT_DIR)
    return output_dir


def target_dates(frame: pd.DataFrame, anchors: torch.Tensor, horizon: int) -> tuple[str, str]:
    """The first and last target date of a split's anchors (feature rows), as training dates
    them (`StockDataModule.date_range`)."""
    dates = frame["Date"]
    first, last = int(anchors[0]) + 2, int(anchors[-1]) + 1 + horizon
    return dates.iloc[first].isoformat(), dates.iloc[last].isoformat()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a tiny untrained artifact (`build_tiny_run`), built once per
    session: what the fast lane's serving, forecaster and packaging tests load."""
    return build_tiny_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="session")
def tiny_mar(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`stockcast.mar` built from `tiny_run`, alone in a fresh model store."""
    return build_mar(LAYOUT, tiny_run, tmp_path_factory.mktemp("tiny_model_store"))


# --- serving: the packaged archive, the upload page, and one real TorchServe per session --------


@pytest.fixture(scope="session")
def packaged_mar(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`stockcast.mar` built from the session's trained run, alone in a fresh model store."""
    return build_mar(LAYOUT, trained_run, tmp_path_factory.mktemp("model_store"))


# the browser tests' browser: Debian's chromium (`make system-deps`), driven by Playwright
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium for the module's pages (a Playwright `Browser`); skipped without
    Debian's chromium. Module-scoped: Playwright's sync API holds an event loop while open."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def upload_page_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """web/ served on a free loopback port, as `make run` serves it on 8090."""
    port = free_port()
    process = start_page_server(
        LAYOUT.web_dir, port, tmp_path_factory.mktemp("upload_page") / "web.log"
    )
    yield port
    stop_process_group(process.pid)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def torchserve(
    packaged_mar: Path, upload_page_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTorchServe]:
    """A real TorchServe (Java) on free loopback ports serving `packaged_mar`, stopped at the end.

    Prometheus metrics mode, token auth off, CORS open to the upload page's origin only. Has
    `inference_url`, `prediction_url`, `management_url`, `metrics_url`, `model_name`,
    `worker_pids()` and `log_dir`.
    """
    server = LocalTorchServe.start(
        LAYOUT,
        packaged_mar.parent,
        tmp_path_factory.mktemp("torchserve"),
        ports=Ports.free(),
        cors_origin=page_origin(upload_page_port),
    )
    yield server
    server.stop()


# --- real-world exports: the same rows as spreadsheets and Yahoo's website write them -----------

HEADER = ("Date", "Open", "High", "Low", "Close", "Volume")
# strftime format -> what the server states it read (`read_as.dates`)
EXPORT_DATES = {
    "%Y-%m-%d": "YYYY-MM-DD",
    "%Y/%m/%d": "YYYY-MM-DD",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%d-%m-%Y": "DD-MM-YYYY",
    "%m-%d-%Y": "MM-DD-YYYY",
    "%d %b %Y": "DD Mon YYYY",
    "%b %d, %Y": "Mon DD, YYYY",
    "%d-%b-%Y": "DD-Mon-YYYY",
}


def render_export(
    rows: Sequence[Sequence[str]],
    delimiter: str = ",",
    decimal: str = ".",
    date_format: str = "%Y-%m-%d",
    group_thousands: bool = False,
    quote_all: bool = False,
    null_days_after: Sequence[int] = (),
) -> bytes:
    """`rows` (Date,Open,High,Low,Close,Volume as ISO CSV text) written in another export's shape.

    Each row in `null_days_after` is followed by a day of Yahoo's `null` prices, dated the next
    calendar day (left out where that day has a row of its own). With the defaults the result
    is the plain ISO, comma-separated file: the twin every other shape must read as.
    """
    lines = [list(HEADER)]
    for i, row in enumerate(rows):
        lines.append(
            [date.fromisoformat(row[0]).strftime(date_format)]
            + [_number(cell, decimal, group_thousands) for cell in row[1:]]
        )
        next_day = date.fromisoformat(row[0]) + timedelta(days=1)
        if i in null_days_after and (i + 1 == len(rows) or str(next_day) < rows[i + 1][0]):
            lines.append([next_day.strftime(date_format)] + ["null"] * 5)
    return "".join(
        delimiter.join(_quoted(cell, delimiter, quote_all) for cell in line) + "\n"
        for line in lines
    ).encode()


def _number(text: str, decimal: str, group_thousands: bool) -> str:
    whole, _, fraction = text.partition(".")
    if group_thousands:
        whole = f"{int(whole):,}".replace(",", "," if decimal == "." else ".")
    return whole + (decimal + fraction if fraction else "")


def _quoted(cell: str, delimiter: str, quote_all: bool) -> str:
    return f'"{cell}"' if quote_all or delimiter in cell else cell


@pytest.fixture(scope="session")
def export_of() -> Callable[..., bytes]:
    """`render_export`: sample rows written as a spreadsheet or Yahoo's website writes them."""
    return render_export


@st.composite
def _export_case(draw: st.DrawFn) -> tuple[list[list[str]], dict, str]:
    rows = [line.split(",") for line in SAMPLE_CSV.read_text().splitlines()[1:]]
    count = draw(st.integers(60, 400))  # always more than one model window of the test config
    start = draw(st.integers(0, len(rows) - count))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    date_format = draw(st.sampled_from(sorted(EXPORT_DATES)))
    shape = {
        "delimiter": delimiter,
        "decimal": "." if delimiter == "," else draw(st.sampled_from([".", ","])),
        "date_format": date_format,
        "group_thousands": draw(st.booleans()),
        "quote_all": draw(st.booleans()),
        "null_days_after": draw(st.lists(st.integers(0, count - 1), max_size=8)),
    }
    return rows[start : start + count], shape, EXPORT_DATES[date_format]


@pytest.fixture(scope="session")
def export_cases() -> st.SearchStrategy[tuple[list[list[str]], dict, str]]:
    """Hypothesis cases `(rows, shape, dates)`: a slice of the sample, a `render_export` shape,
    and the date format the server should say it read."""
    return _export_case()


# --- the serving image, built and run (tests/deploy/, and the container's monitoring) -----------

CONTAINER_HOME = "/home/model-server"


@pytest.fixture(scope="session")
def image() -> str:
    """The image `make image` builds (Docker caches its layers between runs)."""
    try:
        ensure_engine(ROOT / "build" / "dockerd.log")
    except DockerUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Docker: {error}")
        pytest.skip(str(error))
    return build_image(LAYOUT, IMAGE, quiet=True).tag


@dataclass
class Container:
    """A running stockcast container on loopback ports of its own."""

    name: str
    ports: Ports

    @property
    def inference_url(self) -> str:
        return self.ports.url("inference")

    @property
    def management_url(self) -> str:
        return self.ports.url("management")

    @property
    def metrics_url(self) -> str:
        return f"{self.ports.url('metrics')}/metrics"

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *command, check=check, timeout=60)

    def key(self, kind: str) -> str:
        keys = json.loads(self.exec("cat", f"{CONTAINER_HOME}/key_file.json").stdout)
        return keys[kind]["key"]

    def auth(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(kind)}"}

    def healthy(self) -> bool:
        """The image's own health check (it reads the port from the mounted config)."""
        check = self.exec("python3", "/usr/local/bin/healthcheck.py", check=False)
        return check.returncode == 0

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)

    def logs(self) -> str:
        result = docker("logs", "--tail", "60", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def forecast(self, body: bytes, version: str = "") -> requests.Response:
        url = f"{self.inference_url}/predictions/{LAYOUT.model_name}" + (
            f"/{version}" if version else ""
        )
        headers = {**self.auth("inference"), "Content-Type": "text/csv"}
        return requests.post(url, data=body, headers=headers, timeout=60)


def container_config(destination: Path, ports: Ports) -> Path:
    """The image's config with this container's loopback ports (everything else as shipped)."""
    properties = read_properties(ROOT / "torchserve" / "config.container.properties")
    properties.update(
        **ports.settings(),
    )
    destination.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    destination.chmod(0o644)
    return destination


def start_container(image: str, workdir: Path, store: Path | None = None) -> Container:
    """Run `image` on free loopback ports (its config rewritten into `workdir`), `store` mounted
    read-only as the model store when given, once its own health check passes."""
    ports = Ports.free()
    name = f"stockcast-test-{uuid.uuid4().hex[:8]}"
    config = container_config(workdir / f"{name}.properties", ports)
    mounts = ["-v", f"{config}:{CONTAINER_HOME}/config.properties:ro"]
    if store is not None:
        mounts += ["-v", f"{store}:{CONTAINER_HOME}/model-store:ro"]
    docker("run", "-d", "--name", name, "--network", "host", *mounts, image)
    container = Container(name, ports)
    deadline = time.monotonic() + 240
    while not container.healthy():
        running = docker("inspect", "--format", "{{.State.Running}}", name, check=False)
        if running.stdout.strip() != "true" or time.monotonic() > deadline:
            logs = container.logs()
            container.remove()
            pytest.fail(f"container not healthy:\n{logs}")
        time.sleep(1)
    return container


@pytest.fixture
def start(image: str, tmp_path: Path) -> Iterator[Callable[..., Container]]:
    """Start containers of the image; each is removed when the test ends."""
    started: list[Container] = []

    def run(store: Path | None = None) -> Container:
        started.append(start_container(image, tmp_path, store))
        return started[-1]

    yield run
    for container in started:
        container.remove()


@pytest.fixture(scope="session")
def image_container(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """The image with the model built into it, running for the session (for tests that only read
    and send requests; tests that restart or mount a store start their own with `start`)."""
    container = start_container(image, tmp_path_factory.mktemp("image_container"))
    yield container
    container.remove()


# --- every predictions-API answer a test receives follows the contract (web/openapi.yaml) -------
# An autouse fixture wraps `requests.Session.send` (what `requests.post`, `requests.put` and the
# tests' own helpers all go through) for the duration of each test: an answer to a request on one
# of the document's paths (`/predictions/stockcast...`, `/invocations`) that it does not describe
# raises `ContractViolation`, an AssertionError, in the test that received it. Tests keep asserting
# what they are about; none has to assert the shape of the answer. A load generator's clients
# (`stockcast.bench.soak.Load`) are left alone: checking would add to every latency they measure.


@pytest.fixture(scope="session")
def api_contract() -> ApiContract:
    return ApiContract.load()


@pytest.fixture(autouse=True)
def answers_follow_the_contract(
    api_contract: ApiContract, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Check each predictions-API answer of the test; yields the operations checked."""
    checked: list[str] = []
    send = requests.Session.send

    def checked_send(
        session: requests.Session, request: requests.PreparedRequest, **kwargs
    ) -> requests.Response:
        response = send(session, request, **kwargs)
        path = urlsplit(request.url).path
        under_load = threading.current_thread().name.startswith(LOAD_THREAD_PREFIX)
        if api_contract.documents(path) and not under_load:
            api_contract.check(
                request.method or "GET",
                path,
                response.status_code,
                response.headers.get("Content-Type"),
                response.content,
            )
            checked.append(f"{request.method} {path} -> {response.status_code}")
        return response

    monkeypatch.setattr(requests.Session, "send", checked_send)
    yield checked
