"""Shared fixtures: the real Hydra config, shrunk, one short real training run per session, and
the sample's rows written as real-world exports (spreadsheets, Yahoo's website) write them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import strategies as st
from omegaconf import DictConfig, open_dict

from stockcast.app.layout import ProjectLayout
from stockcast.app.resolvers import register_resolvers
from stockcast.release.packaging import build_mar
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
# `--suite-json PATH`: the suite records its size, time and stamp (`make test` passes it)
pytest_plugins = ["stockcast.bench.suite_record"]

register_resolvers()


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
    """One short real training on the bundled sample; its run directory holds `artifact/`."""
    output_dir = tmp_path_factory.mktemp("trained_run")
    train(compose_train_cfg(output_dir))
    return output_dir


# --- serving: the packaged archive, the upload page, and one real TorchServe per session --------


@pytest.fixture(scope="session")
def packaged_mar(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`stockcast.mar` built from the session's trained run, alone in a fresh model store."""
    return build_mar(LAYOUT, trained_run, tmp_path_factory.mktemp("model_store"))


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
