"""`make results`: each marked block of a docs page is rendered from its JSON and nothing else on
the page changes; the docs' blocks are what docs/results/ renders to; measurements are collected
newest first, by what they are."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import pytest

from stockcast.bench.results.blocks import ResultsError, block_names, render_pages, render_text
from stockcast.bench.results.collect import collect
from stockcast.bench.results.tables import RENDERERS, render

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

STAMP = {
    "commit": "0123456789abcdef",
    "dirty": False,
    "date": "2026-12-06T09:00:00+00:00",
    "cpu": "AMD EPYC",
    "cores": 2,
    "load_before": 1.0,
    "load_after": 1.5,
    "command": "python -m stockcast.bench training --json x.json",
}
TRAINING = {
    "name": "training-overhead",
    "stamp": STAMP,
    "steps": 300,
    "rounds": 2,
    "batch_size": 64,
    "hidden_size": 64,
    "torch_threads": 2,
    "lightning_windows_per_s": 2900.0,
    "lightning_fit_windows_per_s": 2500.0,
    "bare_windows_per_s": 3000.0,
    "ratio": 3000 / 2900,
    "ratio_with_setup": 1.2,
    "target_ratio": 1.25,
    "per_round": [{"ratio": 0.98}, {"ratio": 1.1}],
}
PAGE = """# Performance

Prose the docs writer owns, with a table that is not generated:

| a | b |
|---|---|

<!-- results:training-overhead -->
stale text
<!-- /results:training-overhead -->

More prose after the block.
"""


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "training-overhead.json").write_text(json.dumps(TRAINING))
    return folder


def test_only_the_text_between_the_markers_is_rewritten(results_dir, tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(PAGE)
    assert render_pages([page], partial(render, results_dir=results_dir)) == [page]
    text = page.read_text()
    before, _, rest = text.partition("<!-- results:training-overhead -->")
    block, _, after = rest.partition("<!-- /results:training-overhead -->")
    assert before == PAGE.partition("<!-- results:training-overhead -->")[0]
    assert after == PAGE.partition("<!-- /results:training-overhead -->")[2]
    assert "stale text" not in block
    assert "| bare PyTorch loop | 3,000 |" in block and "**1.03x**" in block
    assert "single rounds 0.98-1.10x" in block
    assert "commit 0123456789 on AMD EPYC, 2 cores" in block and "load 1.00 before" in block


def test_a_page_whose_blocks_are_current_is_not_written_again(results_dir, tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(PAGE)
    render = partial(globals()["render"], results_dir=results_dir)
    render_pages([page], render)
    os.utime(page, (0, 0))
    assert render_pages([page], render) == []
    assert page.stat().st_mtime == 0


def test_a_marker_without_its_json_is_one_line_naming_it(tmp_path):
    page = tmp_path / "reliability.md"
    page.write_text("<!-- results:soak -->\n<!-- /results:soak -->\n")
    with pytest.raises(ResultsError) as error:
        render_pages([page], partial(render, results_dir=tmp_path))
    message = str(error.value)
    assert "\n" not in message and "<!-- results:soak -->" in message
    assert str(page) in message and "soak.json" in message
    assert page.read_text() == "<!-- results:soak -->\n<!-- /results:soak -->\n"


def test_a_marker_without_its_closing_pair_is_refused():
    with pytest.raises(ResultsError, match="results:latency --> has no <!-- /results:latency"):
        block_names("<!-- results:latency -->\ntext\n")


def test_an_unknown_name_is_refused_naming_the_known_ones(tmp_path):
    with pytest.raises(ResultsError, match="unknown results name 'nope'"):
        render_text(
            "<!-- results:nope -->\n<!-- /results:nope -->", partial(render, results_dir=tmp_path)
        )


def test_every_block_of_the_docs_is_what_its_json_renders_to():
    """Fails when a page's block differs from its docs/results JSON: run `make results`."""
    pages = sorted(DOCS.glob("*.md"))
    stale = render_pages(pages, partial(render, results_dir=DOCS / "results"), write=False)
    assert stale == [], f"run make results: {[str(page) for page in stale]} out of date"


def test_every_result_the_docs_show_has_its_json_and_every_name_a_block():
    shown = {name for page in DOCS.glob("*.md") for name in block_names(page.read_text())}
    assert shown == set(RENDERERS)
    assert {path.stem for path in (DOCS / "results").glob("*.json")} == set(RENDERERS)


def write(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_collect_takes_the_newest_of_each_kind_and_splits_a_soak_in_two(tmp_path):
    outputs = tmp_path / "outputs"
    older = {**TRAINING, "stamp": {**STAMP, "date": "2026-12-01T09:00:00+00:00"}, "ratio": 9.0}
    write(outputs / "a" / "training-overhead.json", older)
    write(outputs / "b" / "training-overhead.json", TRAINING)
    soak = {"name": "soak", "stamp": STAMP, "settings": {}, "soak": {}, "worker_kill": {"x": 1}}
    write(outputs / "results" / "soak.json", soak)
    write(outputs / "unrelated.json", {"no": "stamp"})
    results, img = tmp_path / "docs" / "results", tmp_path / "docs" / "img"
    collect([outputs], results, img)
    assert sorted(p.name for p in results.iterdir()) == [
        "soak.json",
        "training-overhead.json",
        "worker-kill.json",
    ]
    assert (
        json.loads((results / "training-overhead.json").read_text())["ratio"] == TRAINING["ratio"]
    )
    assert json.loads((results / "worker-kill.json").read_text())["name"] == "worker-kill"


def test_collect_takes_the_default_training_run_with_its_plot_and_skips_an_experiment(tmp_path):
    runs = tmp_path / "outputs" / "train" / "runs"
    for name, overrides in (("default", "[]\n"), ("experiment", "- data.ticker=IBM\n")):
        run = runs / name
        write(run / "stamp.json", {"name": "single-split", "stamp": STAMP, "ticker": name})
        write(run / "metrics.json", {"test/mae": 1.0, "val/mae": 2.0, "calibration/shrink": 0.0})
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(overrides)
        (run / "forecast.png").write_bytes(name.encode())
    results, img = tmp_path / "results", tmp_path / "img"
    collect([tmp_path / "outputs"], results, img)
    record = json.loads((results / "single-split.json").read_text())
    assert record["ticker"] == "default"
    assert record["metrics"] == {"test/mae": 1.0, "calibration/shrink": 0.0}
    assert (img / "forecast.png").read_bytes() == b"default"


def test_collect_from_a_folder_with_no_measurement_says_so(tmp_path):
    with pytest.raises(ResultsError, match="no stamped measurement"):
        collect([tmp_path], tmp_path / "results", tmp_path / "img")


def test_collect_copies_the_newest_screenshot_of_each_browser_test_beside_the_measurements(
    tmp_path,
):
    outputs = tmp_path / "outputs"
    write(outputs / "results" / "training-overhead.json", TRAINING)
    for folder, age in (("old", 100), ("results", 0)):
        for name in ("upload-page.png", "mlflow-run.png"):
            shot = outputs / folder / name
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(f"{folder} {name}".encode())
            os.utime(shot, (shot.stat().st_atime, shot.stat().st_mtime - age))
    img = tmp_path / "docs" / "img"
    copied = collect([outputs], tmp_path / "docs" / "results", img)
    assert (img / "upload-page.png").read_bytes() == b"results upload-page.png"
    assert (img / "mlflow-run.png").read_bytes() == b"results mlflow-run.png"
    assert f"{img / 'mlflow-run.png'} <- {outputs / 'results' / 'mlflow-run.png'}" in copied


def test_collect_from_a_screenshot_alone_copies_it_and_writes_no_results(tmp_path):
    shot = tmp_path / "outputs" / "results" / "mlflow-run.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"png")
    results, img = tmp_path / "docs" / "results", tmp_path / "docs" / "img"
    assert collect([shot], results, img) == [f"{img / 'mlflow-run.png'} <- {shot}"]
    assert (img / "mlflow-run.png").read_bytes() == b"png"
    assert list(results.iterdir()) == []
