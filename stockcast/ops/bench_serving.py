"""Serving latency and throughput: wrk against a real TorchServe, next to the in-process cost.

CLI: `python scripts/benchmark_serving.py [--mar path/to/stockcast.mar] [--duration 15]`.

1. In-process: the handler's own path (`stockcast.serving.service`: parse + validate + one forward pass)
   on a 250-row CSV, one thread, no server running: what a request costs before any serving.
2. A fresh TorchServe on free loopback ports serving the archive (packaged now from the newest
   run unless --mar is given; its model-config sets workers, batch size and max batch delay),
   then wrk (a C load generator, `apt-get install wrk`) POSTs the same CSV for `--duration`
   seconds at each concurrency (1, 8, 32).

Prints a Markdown table (requests/s, p50/p95/p99 ms, non-2xx and socket errors, and the CPU time
TorchServe's processes spent per request) and the serving overhead p50(HTTP, concurrency 1) /
p50(in-process); `--json` also writes the numbers. wrk and TorchServe share the machine's cores,
as a co-located client would. On a shared machine latencies move with the neighbours' load, and
so, less, does CPU time per request; it bounds throughput at about cores * 1000 / (ms per request).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import psutil
import torch

from stockcast.errors import StockcastError
from stockcast.model.forecaster import Forecaster
from stockcast.ops.layout import LOAD_ROWS, MODEL_NAME, ProjectLayout
from stockcast.ops.local_torchserve import LocalTorchServe, Ports, group_members
from stockcast.ops.packaging import build_mar, newest_servable_run
from stockcast.serving.service import answer_batch

CONCURRENCY = (1, 8, 32)
# wrk's Lua hooks: POST the CSV, then print one JSON line of exact latency percentiles (µs)
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/csv"
local file = assert(io.open(os.getenv("BENCH_CSV"), "rb"))
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def in_process_ms(mar: Path, csv: Path, repeats: int = 300) -> list[float]:
    """Per-request milliseconds of the handler's compute path, outside any server."""
    torch.set_num_threads(1)  # as each TorchServe worker runs
    with tempfile.TemporaryDirectory() as unpacked:
        with zipfile.ZipFile(mar) as archive:
            archive.extractall(unpacked)
        forecaster = Forecaster.load(unpacked)
    body = csv.read_bytes()
    timings = []
    for i in range(repeats + 20):
        started = time.perf_counter()
        [outcome] = answer_batch(forecaster, [({"body": body}, "text/csv")])
        elapsed = (time.perf_counter() - started) * 1000
        assert outcome.status == 200
        if i >= 20:  # warm-up excluded
            timings.append(elapsed)
    return timings


def server_cpu_seconds(server: LocalTorchServe) -> float:
    """CPU time used so far by TorchServe's process group: the Java frontend and its workers."""
    total = 0.0
    for pid in group_members(server.pid):
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run_wrk(
    server: LocalTorchServe, script: Path, csv: Path, connections: int, duration_s: int
) -> dict:
    command = [
        "wrk",
        f"--connections={connections}",
        f"--threads={min(connections, 2)}",
        f"--duration={duration_s}s",
        "--timeout=10s",
        f"--script={script}",
        server.prediction_url,
    ]
    cpu_before = server_cpu_seconds(server)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, env={"BENCH_CSV": str(csv)}
    ).stdout
    cpu_used = server_cpu_seconds(server) - cpu_before
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    seconds = result["duration_us"] / 1e6
    return {
        "concurrency": connections,
        "requests": result["requests"],
        "requests_per_s": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p95_ms": result["p95_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["non_2xx"],
        "socket_errors": result["socket_errors"],
        # what a request costs the server whatever else runs on the machine: the throughput
        # ceiling on N idle cores is about N * 1000 / server_cpu_ms_per_request
        "server_cpu_ms_per_request": cpu_used * 1000 / max(result["requests"], 1),
    }


def resolve_mar(layout: ProjectLayout, mar: Path | None, scratch: Path) -> Path:
    """The given archive, else a fresh one from the newest run, so today's serving/ settings count."""
    if mar is not None:
        return mar
    newest = newest_servable_run(layout.runs_dir)
    if newest is None:
        raise StockcastError(
            "no complete run under outputs/train/runs/: `make run` or `make train` first"
        )
    return build_mar(layout, newest[0], scratch)


def benchmark(layout: ProjectLayout, mar: Path | None, duration_s: int) -> dict:
    """In-process cost, then wrk at each concurrency against a fresh TorchServe; the figures."""
    if shutil.which("wrk") is None:
        raise StockcastError("wrk is not installed (apt-get install wrk, or make bench-serving)")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as scratch:
        scratch = Path(scratch)
        mar = resolve_mar(layout, mar, scratch / "store")
        csv = scratch / f"prices_{LOAD_ROWS}.csv"
        csv.write_bytes(layout.sample_upload(LOAD_ROWS))
        script = scratch / "post_csv.lua"
        script.write_text(WRK_SCRIPT)

        compute = in_process_ms(mar, csv)
        store = scratch / "serve"
        store.mkdir()
        shutil.copy2(mar, store / f"{MODEL_NAME}.mar")
        server = LocalTorchServe.start(layout, store, scratch / "torchserve", ports=Ports.free())
        try:
            settings = server.describe()
            run_wrk(server, script, csv, 8, 3)  # warm-up, discarded
            results = [run_wrk(server, script, csv, c, duration_s) for c in CONCURRENCY]
        finally:
            server.stop()

    report = {
        "load_average_1m_before": load_before,  # the machine is shared: say how busy it was
        "cpus": os.cpu_count(),
        "csv_rows": LOAD_ROWS,
        "duration_s": duration_s,
        "workers": len(settings["workers"]),
        "batch_size": settings["batchSize"],
        "max_batch_delay_ms": settings["maxBatchDelay"],
        "in_process_p50_ms": statistics.median(compute),
        "in_process_p95_ms": statistics.quantiles(compute, n=20)[-1],
        "http": results,
    }
    report["overhead_ratio_p50_c1"] = results[0]["p50_ms"] / report["in_process_p50_ms"]
    return report


def markdown(report: dict) -> str:
    lines = [
        f"{report['csv_rows']}-row CSV, {report['workers']} workers, batch size "
        f"{report['batch_size']}, max batch delay {report['max_batch_delay_ms']} ms, "
        f"{report['duration_s']} s per level (wrk); {report['cpus']} CPUs, 1-min load average "
        f"{report['load_average_1m_before']:.1f} before the run",
        "",
        "| concurrency | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors "
        "| server CPU ms/request |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["http"]:
        lines.append(
            f"| {r['concurrency']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx']} | {r['socket_errors']} | "
            f"{r['server_cpu_ms_per_request']:.1f} |"
        )
    lines += [
        "",
        f"in-process handler compute (parse + validate + forecast, 1 thread): "
        f"p50 {report['in_process_p50_ms']:.1f} ms, p95 {report['in_process_p95_ms']:.1f} ms",
        f"serving overhead at concurrency 1: p50 HTTP / p50 in-process = "
        f"{report['overhead_ratio_p50_c1']:.2f}x",
    ]
    return "\n".join(lines)
