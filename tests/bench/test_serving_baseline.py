"""The serving benchmark against a previous release: stockcast's figures over the baseline's and
the release targets, the baseline served with the current worker settings, turns swapped every
round, and a real run with one archive as both."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stockcast.bench.baseline import (
    archive_identity,
    compare_to_baseline,
    read_manifest,
    with_model_config,
)
from stockcast.bench.serving import (
    BASELINE_MODEL,
    CONCURRENCY,
    MODEL,
    SERVERS,
    benchmark_seconds,
    compare,
    markdown,
    ratios_to,
    round_order,
    summarize,
    summary_markdown,
)
from stockcast.errors import StockcastError
from stockcast.release.packaging import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "model-config.yaml"


def one_round(p50_c1: float, rps_scale: float, errors: int = 0) -> list[dict]:
    """wrk's results for one server and round: p50 `p50_c1` ms at c=1, `rps_scale` x 1000 req/s
    per connection's square root."""
    return [
        {
            "concurrency": c,
            "requests": int(1000 * rps_scale * c**0.5 * 10),
            "requests_per_s": 1000 * rps_scale * c**0.5,
            "p50_ms": p50_c1 * c**0.5,
            "p95_ms": 2 * p50_c1 * c**0.5,
            "p99_ms": 3 * p50_c1 * c**0.5,
            "non_2xx": errors,
            "socket_errors": 0,
            "server_cpu_ms_per_request": 0.5 / rps_scale,
        }
        for c in CONCURRENCY
    ]


def report_with_baseline(ours: list[dict], baseline: list[dict]) -> dict:
    """A report as `benchmark` writes it with a baseline, from one round of each server."""
    rounds = {"empty": [one_round(1.0, 2.0)], "checks": [one_round(2.0, 1.5)]}
    rounds |= {MODEL: [ours], BASELINE_MODEL: [baseline]}
    servers = {name: summarize(rounds[name]) for name in SERVERS}
    ratios, met = compare(servers[MODEL], servers["empty"])
    vs_baseline, baseline_met = compare_to_baseline(servers[MODEL], summarize([baseline]))
    model = {"version": "20261206.1", "trained_on": "GOOG 2000..2009"}
    return {
        "csv_rows": 250,
        "model": {"trained_on": "GOOG", "self_rows": 0, "network_windows_per_request": 2},
        "archive": {"file": "stockcast.mar", "version": "20261206.1", "model": model},
        "workers": 2,
        "batch_size": 4,
        "max_batch_delay_ms": 1,
        "duration_s": 3,
        "rounds": 1,
        "cpus": 2,
        "load_average_1m_before": 1.0,
        "load_average_1m_after": 1.2,
        "in_process_p50_ms": 1.0,
        "in_process_p95_ms": 1.2,
        "in_process_cold_p50_ms": 2.5,
        "in_process_cold_stages_p50_ms": {"read_and_check": 0.8, "forecast": 1.2, "network": 0.6},
        "servers": servers,
        "ratios": ratios,
        "checks_ratios": ratios_to(servers["checks"], servers["empty"]),
        "targets_met": met,
        "rounds_detail": rounds,
        "baseline": {
            "archive": {
                "file": "stockcast-1fed71d.mar",
                "version": "1fed71d",
                "model_config_replaced": False,
                "model": {"version": "1fed71d", "trained_on": "GOOG 2000..2008"},
            },
            **summarize([baseline]),
        },
        "vs_baseline": vs_baseline,
        "baseline_targets_met": baseline_met,
    }


def test_stockcast_is_divided_by_the_baseline_and_judged_by_the_release_targets():
    """p50 at c=1 may grow to 1.3x the baseline's, requests/s at c=8 fall to 0.75x its."""
    baseline = summarize([one_round(4.0, 1.0)])
    within, met = compare_to_baseline(summarize([one_round(5.2, 0.75)]), baseline)
    assert within["p50_c1"] == pytest.approx(1.3)
    assert within["requests_per_s_c8"] == pytest.approx(0.75)
    assert met == {
        "p50_c1_at_most_1.3x": True,
        "requests_per_s_c8_at_least_0.75x": True,
        "zero_errors": True,
    }
    slower, met = compare_to_baseline(summarize([one_round(6.0, 0.7, errors=1)]), baseline)
    assert slower["p50_c1"] == pytest.approx(1.5)
    assert slower["requests_per_s_c8"] == pytest.approx(0.7)
    assert not any(met.values())


def test_the_summary_names_both_archives_and_puts_the_baseline_and_the_ratios_in_the_table():
    report = report_with_baseline(one_round(5.0, 0.8), one_round(4.0, 1.0))
    text = summary_markdown(report)
    assert (
        "baseline stockcast-1fed71d.mar (version 1fed71d, trained on GOOG 2000..2008), with the "
        "same model-config.yaml, against stockcast (version 20261206.1, trained on GOOG "
        "2000..2009); the two swap turns every round" in text
    )
    assert "| baseline | 4.00 | 2,828 | 5,657 | 0.50 | 0 |" in text
    assert (
        "| stockcast / baseline | **1.25x** (target <= 1.3x) | **0.80x** (target >= 0.75x)" in text
    )
    # the baseline's row sits with the servers', its ratio row after the floors' ratios
    rows = [line.split(" |")[0] for line in text.splitlines() if line.startswith("| ")]
    assert rows[-3:] == ["| stockcast / empty", "| read + checks / empty", "| stockcast / baseline"]
    assert rows.index("| baseline") == rows.index("| stockcast") + 1
    assert "| 1 | baseline | 8 | 2,828 |" in markdown(report)


def test_without_a_baseline_the_summary_says_nothing_of_one():
    report = report_with_baseline(one_round(5.0, 0.8), one_round(4.0, 1.0))
    for key in ("baseline", "vs_baseline", "baseline_targets_met"):
        del report[key]
    del report["rounds_detail"][BASELINE_MODEL]
    assert "baseline" not in markdown(report)


def test_stockcast_and_the_baseline_swap_turns_every_round_after_the_floors():
    assert round_order(1, baseline=False) == round_order(2, baseline=False) == SERVERS
    assert round_order(1, baseline=True) == ("empty", "checks", MODEL, BASELINE_MODEL)
    assert round_order(2, baseline=True) == ("empty", "checks", BASELINE_MODEL, MODEL)
    alone, both = benchmark_seconds(10, 3), benchmark_seconds(10, 3, baseline=True)
    assert both > alone and (both - alone) == pytest.approx((alone - benchmark_seconds(10, 0)) / 3)


def rewritten(mar: Path, target: Path, config: bytes) -> Path:
    """A copy of `mar` whose model-config.yaml is `config`."""
    with zipfile.ZipFile(mar) as source, zipfile.ZipFile(target, "w") as out:
        for entry in source.infolist():
            out.writestr(entry, config if entry.filename == CONFIG else source.read(entry))
    return target


def test_a_baseline_with_other_worker_settings_is_served_with_the_current_ones(
    tiny_mar: Path, tmp_path: Path
):
    """Everything else of the release stays byte for byte as it was archived."""
    with zipfile.ZipFile(tiny_mar) as current:
        config = current.read(CONFIG)
    one_worker = config.replace(b"minWorkers: 2", b"minWorkers: 1").replace(
        b"maxWorkers: 2", b"maxWorkers: 1"
    )
    assert one_worker != config
    baseline = rewritten(tiny_mar, tmp_path / "previous.mar", one_worker)

    served = tmp_path / "baseline.mar"
    assert with_model_config(baseline, tiny_mar, served) is True
    with zipfile.ZipFile(served) as out, zipfile.ZipFile(baseline) as original:
        assert out.read(CONFIG) == config
        assert json.loads(out.read(MANIFEST)) == json.loads(original.read(MANIFEST))
        assert sorted(out.namelist()) == sorted(original.namelist())
        kept = set(original.namelist()) - {CONFIG}
        assert all(out.read(name) == original.read(name) for name in kept)


def test_a_baseline_with_the_same_worker_settings_is_served_as_released(
    tiny_mar: Path, tmp_path: Path
):
    served = tmp_path / "baseline.mar"
    assert with_model_config(tiny_mar, tiny_mar, served) is False
    assert served.read_bytes() == tiny_mar.read_bytes()
    identity = archive_identity(tiny_mar)
    assert identity["version"] == read_manifest(tiny_mar)["model"]["modelVersion"]
    assert identity["packaged_at"] and identity["file"] == tiny_mar.name


def test_what_is_not_an_archive_is_refused_in_one_line(tmp_path: Path):
    not_an_archive = tmp_path / "notes.mar"
    not_an_archive.write_text("not a zip")
    with pytest.raises(StockcastError, match="not a readable TorchServe archive"):
        read_manifest(not_an_archive)
    result = bench("serving", "--baseline-mar", str(tmp_path / "none.mar"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "none.mar: not a readable TorchServe archive" in errors[0]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stockcast.bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.integration
def test_one_archive_as_both_current_and_baseline_measures_about_even(
    tiny_mar: Path, tmp_path: Path
):
    """Real TorchServes under wrk, one short round: the same archive against itself gives
    ratios near 1, and the stamped JSON and the summary carry the baseline."""
    out = tmp_path / "latency.json"
    result = bench(
        "serving",
        *("--mar", str(tiny_mar), "--baseline-mar", str(tiny_mar)),
        *("--duration", "2", "--rounds", "1", "--json", str(out)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "round(s) of four servers" in result.stdout
    assert "| stockcast / baseline | **" in result.stdout

    record = json.loads(out.read_text())
    assert record["name"] == "latency" and "--baseline-mar" in record["stamp"]["command"]
    baseline, ratios = record["baseline"], record["vs_baseline"]
    assert 0.5 <= ratios["p50_c1"] <= 2.0
    assert 0.5 <= ratios["requests_per_s_c8"] <= 2.0
    assert baseline["errors"] == record["servers"][MODEL]["errors"] == 0
    assert record["baseline_targets_met"]["zero_errors"]
    assert baseline["archive"]["sha256"] == record["archive"]["sha256"]
    assert baseline["archive"]["model_config_replaced"] is False
    version = read_manifest(tiny_mar)["model"]["modelVersion"]
    assert baseline["archive"]["version"] == baseline["archive"]["model"]["version"] == version
    assert [len(record["rounds_detail"][name]) for name in (MODEL, BASELINE_MODEL)] == [1, 1]
