"""Serving latency and throughput against TorchServe's own floor and a baseline release: wrk.

CLI: `python -m stockcast.bench serving [--mar path/to/stockcast.mar] [--duration 10] [--rounds 3]
[--baseline-mar path/to/previous.mar] [--json out.json]`.

Why a floor: on a shared machine absolute latencies move with the neighbours' load, so the figure
that means something is stockcast's cost next to an empty handler (stockcast/bench/handlers/empty_handler.py, which
answers `{"ok": true}`), measured in the same run under the same load. A second floor splits that
cost in two: the checks handler (stockcast/bench/handlers/checks_handler.py, archived with the benchmarked
archive's package and artifact) reads and checks each upload exactly as stockcast does, then
answers `{"ok": true}`; what it adds over the empty handler every request pays before anything is
forecast, and what stockcast adds over it is the forecast, its JSON and its metrics. All three
archives are built with torchserve/model-config.yaml (workers, batch size, max batch delay) and
served with torchserve/config.properties, each by a fresh TorchServe on free loopback ports, one at
a time, in turn for `rounds` rounds (empty, checks, stockcast, empty, ...) so a change in the
machine's load falls on all. wrk (a C load generator, `apt-get install wrk`) POSTs the sample's
last 250 rows for `duration` seconds at each concurrency (1, 8, 32) after a short discarded
warm-up, once each server has answered that CSV (stockcast/bench/wrk.py).

Reported per server (the median over rounds: one round disturbed by a neighbour, which happens
on this shared machine, moves a mean by a third) and as ratios to the empty handler: p50 at
concurrency 1, requests/s at 8 and 32, the CPU time TorchServe's processes (Java frontend and Python workers)
spent per request, and errors (non-2xx answers and socket errors). Before the servers, the
handler's compute path (`stockcast.serving.service.answer_batch`: parse, validate, forecast) is
timed in-process on one thread, back to back (hot caches) and after a 64 MB read each (cold: as at
concurrency 1 in a server). wrk shares the cores with the server, as a co-located client would.

With a baseline (a previous release's archive, stockcast/bench/baseline.py) a fourth server joins
every round, and stockcast is also reported over it: the two ratios a release is judged by.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stockcast.app.layout import ProjectLayout
from stockcast.bench.baseline import (
    BASELINE_MODEL,
    archive_identity,
    compare_to_baseline,
    read_manifest,
    summary_lines,
    with_model_config,
)
from stockcast.bench.wrk import CONCURRENCY, WARMUP_S, load_levels, ratios_to, summarize
from stockcast.errors import StockcastError
from stockcast.inputs.bars import Bars
from stockcast.model.forecaster import Forecaster, network_log_factors
from stockcast.release.packaging import MANIFEST, archive_handler, build_mar, newest_servable_run
from stockcast.serving.service import answer_batch, parse_request

EMPTY_MODEL = (
    "empty"  # the floor: stockcast/bench/handlers/empty_handler.py, served under this name
)
CHECKS_MODEL = (
    "checks"  # the second floor: stockcast/bench/handlers/checks_handler.py (reads and checks only)
)
MODEL = "stockcast"  # the model itself, served under this name beside the two floors
SERVERS = (EMPTY_MODEL, CHECKS_MODEL, MODEL)  # the order within each round
LABELS = {
    EMPTY_MODEL: "empty handler",
    CHECKS_MODEL: "read + checks only",
    MODEL: "stockcast",
    BASELINE_MODEL: "baseline",
}
TARGET_P50_RATIO = 1.5  # target: p50 at c=1 at most 1.5x the empty handler's
TARGET_RPS_RATIO = 0.35  # ... and requests/s at c=8 at least 0.35x its
START_S = 12.0  # about what a fresh TorchServe takes to load an archive and answer, here
IN_PROCESS_S = 30.0  # about what the in-process timings and the three archives take


def in_process_ms(mar: Path, csv: Path, repeats: int = 300) -> tuple[dict[str, list[float]], dict]:
    """Per-request milliseconds of the handler's compute path, outside any server, and what the
    served model makes a request compute.

    Two ways: `hot`, requests back to back, and `cold`, each after reading 64 MB as a server's
    neighbours do between two requests at concurrency 1 (wrk, the frontend, the other worker),
    which leaves the CPU caches holding none of the handler's code and data.
    """
    torch.set_num_threads(1)  # as each TorchServe worker runs
    with tempfile.TemporaryDirectory() as unpacked:
        with zipfile.ZipFile(mar) as archive:
            archive.extractall(unpacked)
        forecaster = Forecaster.load(unpacked)
    body = csv.read_bytes()
    elsewhere = np.ones(8 * 2**20)  # 64 MB, several times any last-level cache here
    fields = [({"body": body}, "text/csv")]
    table = parse_request(forecaster, *fields[0])
    windows = forecaster.network_windows(table.bars)
    sigma = forecaster.calibration.volatility(windows)
    model = served_model(forecaster, table.bars)
    steps = {
        "hot": lambda: answer_batch(forecaster, fields),
        "cold": lambda: answer_batch(forecaster, fields),
        # the cold request's stages, each timed alone after its own 64 MB read
        "cold_read_and_check": lambda: parse_request(forecaster, *fields[0]),
        "cold_forecast": lambda: forecaster.predict_bars([table.bars]),
        "cold_network": lambda: network_log_factors(
            forecaster.net, forecaster.scaler, windows, sigma
        ),
    }
    timings: dict[str, list[float]] = {kind: [] for kind in steps}
    for kind, step in steps.items():
        for i in range(repeats + 20):
            if kind.startswith("cold"):
                elsewhere.sum()
            started = time.perf_counter()
            step()
            elapsed = (time.perf_counter() - started) * 1000
            if i >= 20:  # warm-up excluded
                timings[kind].append(elapsed)
    [outcome] = answer_batch(forecaster, fields)
    assert outcome.status == 200
    return timings, model


def served_model(forecaster: Forecaster, bars: Bars) -> dict:
    """The model's settings that decide what a request of `bars` costs. Without self-calibration
    (self_rows 0) the network runs on each upload's latest windows only; with it, also on the
    upload's recent days that its band is scored on."""
    return {
        "trained_on": forecaster.info.get("trained_on"),
        "self_rows": forecaster.calibration.self_rows,
        "network_windows_per_request": len(forecaster.network_windows(bars)),
    }


def resolve_mar(layout: ProjectLayout, mar: Path | None, run: Path | None, scratch: Path) -> Path:
    """The given archive, else a fresh one from `run` or the newest run, so today's serving/
    settings count."""
    if mar is not None:
        return mar
    if run is None:
        newest = newest_servable_run(layout.runs_dir)
        if newest is None:
            raise StockcastError(
                "no complete run under outputs/train/runs/: `make run` or `make train` first"
            )
        run = newest[0]
    return build_mar(layout, run, scratch)


def checks_archive(layout: ProjectLayout, mar: Path, store: Path, scratch: Path) -> Path:
    """`<store>/checks.mar`: the files of `mar` (its package, artifact, stockcast's handler) with
    the checks handler as the entry point, so the checks floor runs the benchmarked code."""
    unpacked = scratch / "checks-files"
    with zipfile.ZipFile(mar) as archive:
        version = json.loads(archive.read(MANIFEST))["model"]["modelVersion"]
        archive.extractall(unpacked)
    shutil.rmtree(unpacked / Path(MANIFEST).parent)  # the archiver writes the checks' manifest
    (unpacked / layout.model_config.name).unlink()  # and adds model-config.yaml itself
    return archive_handler(
        layout, layout.checks_handler, store, version, CHECKS_MODEL, extra_dir=unpacked
    )


def benchmark_seconds(duration_s: float, rounds: int, baseline: bool = False) -> float:
    """About how long `benchmark` runs with these settings: the in-process timings, then per
    round and server a TorchServe start, wrk's warm-up and one `duration_s` per concurrency."""
    per_server = START_S + WARMUP_S + duration_s * len(CONCURRENCY)
    return IN_PROCESS_S + rounds * len(round_order(1, baseline)) * per_server


def round_order(number: int, baseline: bool) -> tuple[str, ...]:
    """The servers of round `number` (from 1), in turn: the floors, then stockcast and the
    baseline, which swap places every round so neither always follows the other."""
    if not baseline:
        return SERVERS
    archives = (MODEL, BASELINE_MODEL) if number % 2 else (BASELINE_MODEL, MODEL)
    return (EMPTY_MODEL, CHECKS_MODEL, *archives)


def served_settings(description: dict) -> dict:
    """The worker settings a server reports for its model (from the archive's model-config)."""
    return {
        "workers": len(description["workers"]),
        "batch_size": description["batchSize"],
        "max_batch_delay_ms": description["maxBatchDelay"],
    }


def compare(ours: dict, floor: dict) -> tuple[dict, dict]:
    """Stockcast's figures over the empty handler's, and which of the latency targets they meet."""
    ratios = ratios_to(ours, floor)
    targets_met = {
        "p50_c1_at_most_1.5x": ratios["p50_c1"] <= TARGET_P50_RATIO,
        "requests_per_s_c8_at_least_0.35x": ratios["requests_per_s_c8"] >= TARGET_RPS_RATIO,
        "zero_errors": ours["errors"] == 0 and floor["errors"] == 0,
    }
    return ratios, targets_met


def prepare_archives(
    layout: ProjectLayout,
    mar: Path | None,
    run: Path | None,
    baseline_mar: Path | None,
    scratch: Path,
) -> tuple[dict[str, Path], dict[str, dict]]:
    """A model store per server under `scratch`, each holding `<name>.mar`: the floors, stockcast
    (`mar`, else built from `run`) and the baseline; and what the two archives say about
    themselves."""
    stores = {name: scratch / f"{name}-store" for name in round_order(1, baseline_mar is not None)}
    for store in stores.values():
        store.mkdir()
    served = stores[MODEL] / f"{MODEL}.mar"
    shutil.copy2(resolve_mar(layout, mar, run, scratch / "build"), served)
    archive_handler(layout, layout.empty_handler, stores[EMPTY_MODEL], "1.0", EMPTY_MODEL)
    checks_archive(layout, served, stores[CHECKS_MODEL], scratch)
    archives = {MODEL: archive_identity(served)}
    if baseline_mar is not None:
        target = stores[BASELINE_MODEL] / f"{BASELINE_MODEL}.mar"
        replaced = with_model_config(baseline_mar, served, target)
        archives[BASELINE_MODEL] = archive_identity(baseline_mar) | {
            "model_config_replaced": replaced
        }
    return stores, archives


def benchmark(
    layout: ProjectLayout,
    mar: Path | None,
    duration_s: int,
    rounds: int = 3,
    run: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
    baseline_mar: Path | None = None,
) -> dict:
    """In-process cost, then the servers under wrk, in turn (with `baseline_mar`, a previous
    release's archive among them); the figures. `progress` gets a line per finished stage and
    per concurrency level."""
    if baseline_mar is not None:
        read_manifest(baseline_mar)  # a wrong path fails now, not after the in-process timings
    if shutil.which("wrk") is None:
        raise StockcastError("wrk is not installed (apt-get install wrk, or make bench-serving)")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as scratch:
        scratch = Path(scratch)
        stores, archives = prepare_archives(layout, mar, run, baseline_mar, scratch)
        served = stores[MODEL] / f"{MODEL}.mar"
        csv = scratch / f"prices_{layout.upload_rows}.csv"
        csv.write_bytes(layout.sample_upload())

        progress("archives built")
        compute, model = in_process_ms(served, csv)
        progress(f"in-process timings: p50 {statistics.median(compute['hot']):.2f} ms")
        runs: dict[str, list[list[dict]]] = {name: [] for name in stores}
        settings: dict[str, dict] = {}
        for number in range(1, rounds + 1):
            for name in round_order(number, baseline_mar is not None):
                levels = load_levels(
                    layout,
                    stores[name],
                    name,
                    LABELS[name],
                    scratch,
                    csv,
                    duration_s,
                    lambda line, number=number: progress(f"round {number}/{rounds}, {line}"),
                )
                runs[name].append(levels.results)
                settings[name] = served_settings(levels.settings)
                if name == BASELINE_MODEL and settings[name] != settings[MODEL]:
                    raise StockcastError(
                        f"the baseline served with {settings[name]}, stockcast with "
                        f"{settings[MODEL]}: their figures would not compare the code"
                    )
                if name in archives:  # what the archive's answer says about its model
                    archives[name]["model"] = levels.answer.get("model")

    servers = {name: summarize(runs[name]) for name in SERVERS}
    ratios, targets_met = compare(servers[MODEL], servers[EMPTY_MODEL])
    report = {
        "load_average_1m_before": load_before,  # the machine is shared: say how busy it was
        "load_average_1m_after": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "csv_rows": layout.upload_rows,
        "model": model,
        "archive": archives[MODEL],
        "duration_s": duration_s,
        "rounds": rounds,
        **settings[MODEL],  # the floors are archived with the same model-config.yaml
        "in_process_p50_ms": statistics.median(compute["hot"]),
        "in_process_p95_ms": statistics.quantiles(compute["hot"], n=20)[-1],
        "in_process_cold_p50_ms": statistics.median(compute["cold"]),
        "in_process_cold_stages_p50_ms": {
            kind.removeprefix("cold_"): statistics.median(compute[kind])
            for kind in ("cold_read_and_check", "cold_forecast", "cold_network")
        },
        "servers": servers,
        "ratios": ratios,
        "checks_ratios": ratios_to(servers[CHECKS_MODEL], servers[EMPTY_MODEL]),
        "targets_met": targets_met,
        "rounds_detail": runs,
    }
    if baseline_mar is not None:
        baseline = summarize(runs[BASELINE_MODEL])
        report["baseline"] = {"archive": archives[BASELINE_MODEL], **baseline}
        report["vs_baseline"], report["baseline_targets_met"] = compare_to_baseline(
            servers[MODEL], baseline
        )
    return report


def markdown(report: dict) -> str:
    """The summary table (the servers and the ratios), what the targets leave for the forecast,
    then every round's levels."""
    lines = [
        summary_markdown(report),
        "",
        "| round | server | concurrency | requests/s | p50 ms | p95 ms | p99 ms | non-2xx "
        "| socket errors | server CPU ms/request |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rounds in report["rounds_detail"].items():
        for number, results in enumerate(rounds, start=1):
            for r in results:
                lines.append(
                    f"| {number} | {name} | {r['concurrency']} | {r['requests_per_s']:,.0f} | "
                    f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} "
                    f"| {r['socket_errors']} | {r['server_cpu_ms_per_request']:.2f} |"
                )
    lines += ["", in_process_text(report)]
    return "\n".join(lines)


def summary_markdown(report: dict) -> str:
    """The settings, the servers and the ratios (to the empty handler, and to the baseline when
    there was one), and what the targets leave for the forecast: what the docs show."""
    servers, ratio, checks = report["servers"], report["ratios"], report["checks_ratios"]
    baseline = summary_lines(report) if "baseline" in report else None
    lines = [
        f"{report['csv_rows']}-row CSV, {report['workers']} workers, batch size "
        f"{report['batch_size']}, max batch delay {report['max_batch_delay_ms']} ms, "
        f"{report['duration_s']} s per level, {report['rounds']} rounds in turn (wrk); "
        f"{report['cpus']} CPUs, 1-min load average {report['load_average_1m_before']:.1f} "
        f"before, {report['load_average_1m_after']:.1f} after",
        model_text(report["model"]),
        *([baseline[0]] if baseline else []),
        "",
        "| | p50 ms, c=1 | requests/s, c=8 | requests/s, c=32 | server CPU ms/request, c=8 "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in SERVERS:
        figures = servers[name]
        lines.append(
            f"| {LABELS[name]} | {figures['p50_ms_c1']:.2f} | {figures['requests_per_s_c8']:,.0f} "
            f"| {figures['requests_per_s_c32']:,.0f} | "
            f"{figures['server_cpu_ms_per_request_c8']:.2f} | {figures['errors']} |"
        )
    lines += [
        *([baseline[1]] if baseline else []),
        f"| stockcast / empty | **{ratio['p50_c1']:.2f}x** (target <= {TARGET_P50_RATIO}x) | "
        f"**{ratio['requests_per_s_c8']:.2f}x** (target >= {TARGET_RPS_RATIO}x) | "
        f"{ratio['requests_per_s_c32']:.2f}x | {ratio['server_cpu_ms_per_request_c8']:.1f}x | |",
        f"| read + checks / empty | {checks['p50_c1']:.2f}x | {checks['requests_per_s_c8']:.2f}x "
        f"| {checks['requests_per_s_c32']:.2f}x | {checks['server_cpu_ms_per_request_c8']:.1f}x "
        "| |",
        *([baseline[2]] if baseline else []),
        "",
        budget_text(report),
    ]
    return "\n".join(lines)


def model_text(model: dict) -> str:
    """The served model in a line: what it was trained on, how its band calibrates itself (the
    shrink of the point forecast, in records from before the band model), and the network's
    windows per request."""
    if "shrink" in model:
        calibration = f"shrink {model['shrink']}"
    elif model.get("self_rows"):
        calibration = f"self-calibrated on up to {model['self_rows']} days"
    else:
        calibration = "no self-calibration"
    return (
        f"model trained on {model['trained_on']}, {calibration}: the network forecasts "
        f"{model['network_windows_per_request']} windows per request"
    )


def in_process_text(report: dict) -> str:
    """The handler's compute path timed outside any server, hot and cold."""
    return (
        f"in-process handler compute (answer_batch: parse + validate + forecast, 1 thread): "
        f"p50 {report['in_process_p50_ms']:.2f} ms, p95 {report['in_process_p95_ms']:.2f} ms; "
        f"with the caches emptied before each request: p50 "
        f"{report['in_process_cold_p50_ms']:.2f} ms ("
        + ", ".join(
            f"{stage.replace('_', ' ')} {ms:.2f}"
            for stage, ms in report["in_process_cold_stages_p50_ms"].items()
        )
        + " ms, each alone)"
    )


def budget_text(report: dict) -> str:
    """The targets in milliseconds and requests/s, and how much of them the checks floor uses."""
    servers = report["servers"]
    empty, checks, ours = (servers[name] for name in SERVERS)
    p50_target = TARGET_P50_RATIO * empty["p50_ms_c1"]
    return (
        f"The targets: p50 at c=1 at most {p50_target:.2f} ms, and "
        f"{TARGET_RPS_RATIO * empty['requests_per_s_c8']:,.0f} requests/s at c=8. Read + checks "
        f"alone: {checks['p50_ms_c1']:.2f} ms and {checks['requests_per_s_c8']:,.0f} requests/s, "
        f"which leaves {p50_target - checks['p50_ms_c1']:.2f} ms of the p50 for the "
        f"forecast, its JSON and metrics; they take "
        f"{ours['p50_ms_c1'] - checks['p50_ms_c1']:.2f} ms (stockcast minus read + checks), and "
        f"{ours['server_cpu_ms_per_request_c8'] - checks['server_cpu_ms_per_request_c8']:.2f} ms "
        f"of server CPU per request at c=8."
    )
