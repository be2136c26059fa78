"""Each results NAME's JSON as markdown: a table, a sentence of settings, and the stamp line.

The JSON is what the measuring command wrote (copied into docs/results/NAME.json by `make results
FROM=...`); nothing here is typed by hand, so a figure in the docs is always the one measured, with
the commit, date, CPU and load it was measured at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockcast.backtest import summary as backtest_summary
from stockcast.backtest.promotion import decision_markdown
from stockcast.bench.replicas import table as replicas
from stockcast.bench.results.blocks import ResultsError
from stockcast.bench.serving import summary_markdown
from stockcast.training.summary import training_table


def stamp_line(stamp: dict[str, Any]) -> str:
    """One line: when, which commit, what machine, how busy, and the command."""
    commit = (stamp.get("commit") or "unknown")[:10]
    if stamp.get("dirty"):
        commit += " with uncommitted changes"
    date = stamp["date"].replace("T", " ").replace("+00:00", " UTC")
    return (
        f"_Measured {date} at commit {commit} on {stamp['cpu']}, {stamp['cores']} cores, "
        f"1-min load {stamp['load_before']:.2f} before and {stamp['load_after']:.2f} after: "
        f"`{stamp['command']}`_"
    )


def walk_forward(record: dict) -> str:
    reports = record["reports"]
    first = reports[0]
    wall = sum(report.get("wall_seconds") or 0 for report in reports)
    tickers = ", ".join(report["ticker"] for report in reports)
    refit = "fit once" if first["refit_every"] == 0 else f"refit every {first['refit_every']} days"
    return (
        f"{tickers}: {first['days']} scored days each ({first['first_day']}..{first['last_day']}), "
        f"{first['level']:.0%} bands, horizon {first['horizon']}, the model {refit}; "
        f"{wall:.0f} s of walking in all.\n\n"
        + backtest_summary.summary_markdown(
            reports,
            record.get("pooled", {}),
            backtest_summary.recent_reports(reports),
            record.get("recent_pooled"),
        )
    )


def fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def single_split(record: dict) -> str:
    metrics = record["metrics"]
    start, end = record["test_split"]
    tickers = sorted({key.split("/")[1] for key in metrics if key.count("/") == 2})
    lines = [
        f"Test split {start}..{end} ({record['ticker']}); the forecast is the last close, the "
        f"band's interval score {metrics['test/winkler'] / metrics['test/no_network_winkler']:.3f}x"
        " the same band's without the network (all tickers, stored quantiles).",
        "",
        "| ticker | days | MAE | coverage (80% band) | interval score / close | no network |"
        " ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for ticker, prefix in [*((t, f"test/{t}/") for t in tickers), ("all", "test/")]:
        model, base = metrics[prefix + "winkler"], metrics[prefix + "no_network_winkler"]
        lines.append(
            f"| {ticker} | {metrics[prefix + 'samples']:.0f} | {metrics[prefix + 'mae']:.3f} | "
            f"{metrics[prefix + 'interval_coverage']:.3f} | {model:.5f} | {base:.5f} | "
            f"{model / base:.3f} |"
        )
    return "\n".join(lines)


def latency(record: dict) -> str:
    return summary_markdown(record)


def training_overhead(record: dict) -> str:
    rounds = [r["ratio"] for r in record["per_round"]]
    return "\n".join(
        [
            f"LSTM {record['hidden_size']} hidden, batch {record['batch_size']}, "
            f"{record['steps']} AdamW steps, {record['torch_threads']} torch threads; Lightning "
            f"and the bare loop alternated {record['rounds']} times in one process.",
            "",
            f"| | windows/s (median of {record['rounds']}) |",
            "|---|---:|",
            f"| Lightning `Trainer.fit` (training loop) | {record['lightning_windows_per_s']:,.0f} |",
            f"| Lightning `Trainer.fit` (whole call) | {record['lightning_fit_windows_per_s']:,.0f} |",
            f"| bare PyTorch loop | {record['bare_windows_per_s']:,.0f} |",
            f"| ratio (time) | **{record['ratio']:.2f}x** (target <= {record['target_ratio']}x; "
            f"single rounds {min(rounds):.2f}-{max(rounds):.2f}x) |",
        ]
    )


def soak(record: dict) -> str:
    settings, figures = record["settings"], record["soak"]
    rss = ", ".join(
        f"{before:.1f} -> {figures['rss_after_mib'].get(pid, 0):.1f} MiB"
        for pid, before in figures["rss_before_mib"].items()
    )
    timeline = figures["p95_timeline_ms"]
    growth = figures["rss_growth"]
    lines = [
        "| concurrency | warm-up + measured | requests | requests/s | failed | p95 first 10 s "
        "| p95 last 10 s | p95 per 10 s window | worker RSS | verdict |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|---|",
        f"| {figures['concurrency']} | {settings['warmup_s']:g} s + {figures['measured_s']:.0f} s "
        f"| {figures['requests']:,} | {figures['requests_per_s']:.1f} | {figures['failed']} "
        f"| {figures['p95_first_ms']:.0f} ms | {figures['p95_last_ms']:.0f} ms "
        f"| {min(timeline):.0f}-{max(timeline):.0f} ms over {len(timeline)} | {rss} "
        f"({fmt(growth, '{:+.1%}')}) | {'**passed**' if not figures['problems'] else '; '.join(figures['problems'])} |",
    ]
    if figures.get("stopped_early"):
        lines += ["", figures["stopped_early"]]
    return "\n".join(lines)


def worker_kill(record: dict) -> str:
    kill = record["worker_kill"]
    if kill is None:
        raise ResultsError("the soak JSON has no worker kill: run the soak with --kill-worker")
    failed_with = ", ".join(kill["failed_with"]) or "none"
    return "\n".join(
        [
            "| concurrency | recovery (all workers READY) | requests | failed | failed with "
            "| sent after recovery | failed after recovery |",
            "|---:|---:|---:|---:|---|---:|---:|",
            f"| {kill['concurrency']} | {kill['recovery_s']:.2f} s | {kill['requests']:,} "
            f"| {kill['failed']} | {failed_with} | {kill['sent_after_recovery']:,} "
            f"| **{kill['failed_after_recovery']}** |",
        ]
    )


def suite(record: dict) -> str:
    counts = record["counts"]
    shown = ("passed", "failed", "errors", "skipped", "xfailed", "deselected")
    return "\n".join(
        [
            "| tests collected | " + " | ".join(shown) + " | duration |",
            "|---:|" + "---:|" * len(shown) + "---:|",
            f"| {record['collected']} | "
            + " | ".join(str(counts.get(key, 0)) for key in shown)
            + f" | {record['duration_s'] / 60:.1f} min |",
        ]
    )


def image(record: dict) -> str:
    """The serving image `make image` built: its size and how long the build took."""
    cache = "every layer built anew" if record["no_cache"] else "with Docker's layer cache"
    return (
        "| image | size | build time | built from |\n|---|---:|---:|---|\n"
        f"| `{record['tag']}` | {record['size_bytes'] / 1e9:.2f} GB | "
        f"{record['build_seconds']:.0f} s ({cache}) | the {record['source']} |"
    )


def development_sweep(record: dict) -> str:
    """The training sweep of the development period: a row per setting tried."""
    return "\n".join(training_table(record["runs"]))


def multi_ticker(record: dict) -> str:
    """One request of many tickers against as many single requests, same server and rows."""
    each = record["ms_per_ticker"]
    return (
        "| requests | wall time per ticker (median) | per run |\n|---|---:|---|\n"
        f"| one request of {record['tickers']} tickers | {each['together']:.2f} ms | "
        + ", ".join(f"{v:.2f}" for v in record["repetitions_ms_per_ticker"]["together"])
        + f" |\n| {record['tickers']} single requests, one after another | "
        f"{each['alone']:.2f} ms | "
        + ", ".join(f"{v:.2f}" for v in record["repetitions_ms_per_ticker"]["alone"])
        + f" |\n\nOne request is **{record['alone_over_together']:.2f}x** cheaper per ticker "
        f"({record['rows_per_ticker']} rows per ticker, {record['repetitions']} runs alternated; "
        f"every ticker answered: {'yes' if record['all_answered'] else 'no'}, the same forecasts "
        f"as alone: {'yes' if record['same_forecasts'] else 'no'})."
    )


def batch_forecast(record: dict) -> str:
    """forecast.py's batch path: tickers per second in chunks and one upload per call."""
    settings = record["settings"]
    rows = []
    for key, label in (
        ("batched", f"{settings['chunk_size']} tickers per call"),
        ("one_per_call", "one ticker per call"),
    ):
        found = record[key]
        rows.append(
            f"| {label} | {found['tickers_per_s']:.1f} | {found['forecast_tickers_per_s']:.1f} | "
            f"{found['median_s']['total_s']:.2f} s |"
        )
    return (
        "| forecast.py | tickers/s end to end | tickers/s forecasting | wall time (median) |\n"
        "|---|---:|---:|---:|\n" + "\n".join(rows) + f"\n\n{settings['tickers']} tickers of "
        f"{settings['rows']} rows, {settings['rounds']} rounds, {settings['torch_threads']} torch "
        f"threads; batching is **{record['batching_speedup']:.2f}x** faster."
    )


RENDERERS: dict[str, Callable[[dict], str]] = {
    "development-sweep": development_sweep,
    "walk-forward-global": walk_forward,
    "walk-forward-leave-one-out": walk_forward,
    "single-split": single_split,
    "latency": latency,
    "training-overhead": training_overhead,
    "soak": soak,
    "worker-kill": worker_kill,
    "suite": suite,
    "image": image,
    "replicas": replicas,
    "retrain-decision": decision_markdown,
    "multi-ticker": multi_ticker,
    "batch-forecast": batch_forecast,
}


def render(name: str, results_dir: Path) -> str:
    """NAME's block: its table and its stamp line, from `<results_dir>/<name>.json`."""
    if name not in RENDERERS:
        raise ResultsError(f"unknown results name {name!r}; known: {', '.join(RENDERERS)}")
    path = results_dir / f"{name}.json"
    if not path.is_file():
        raise ResultsError(
            f"no {path}: run its measuring command, then `make results FROM=outputs`"
        )
    try:
        record = json.loads(path.read_text())
        return f"{RENDERERS[name](record)}\n\n{stamp_line(record['stamp'])}"
    except (ValueError, KeyError, TypeError) as error:
        raise ResultsError(
            f"{path} is not a {name} record ({type(error).__name__}: {error})"
        ) from None
