"""One served archive under wrk: a fresh TorchServe, the same CSV at each concurrency, the figures.

The serving benchmark (stockcast/bench/serving.py) calls `load_levels` once per server and round
and `summarize` once per server; everything about how load is generated and measured lives here, so
every server it compares (the floors, stockcast, a baseline release) is measured the same way.

wrk (a C load generator, `apt-get install wrk`) POSTs the CSV for `duration` seconds at each
concurrency after a short discarded warm-up; its Lua `done` hook prints exact latency percentiles.
The CPU time TorchServe's process group (Java frontend and Python workers) spends during a level
gives the server's cost per request, whatever else the shared machine runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from stockcast.app.layout import ProjectLayout
from stockcast.errors import StockcastError
from stockcast.stack.torchserve import LocalTorchServe, Ports, group_members

CONCURRENCY = (1, 8, 32)
WARMUP_S = 3  # wrk's discarded warm-up at each server start
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


class Levels(NamedTuple):
    """One server's round: its settings as the management API reports them, its answer to the
    CSV (checked before any load), and one wrk result per concurrency."""

    settings: dict
    answer: dict
    results: list[dict]


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


SOCKET_ERROR_KINDS = ("connect", "read", "write", "timeout")


def wrk_command(url: str, script: Path, connections: int, duration_s: int) -> list[str]:
    """wrk with this benchmark's settings: two threads at most, a 10 s timeout, the script
    that reports one RESULT line of JSON."""
    return [
        "wrk", f"--connections={connections}", f"--threads={min(connections, 2)}",
        f"--duration={duration_s}s", "--timeout=10s", f"--script={script}", url,
    ]  # fmt: skip


def parse_wrk(output: str, connections: int) -> dict[str, Any]:
    """The figures of wrk's RESULT line."""
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    seconds = result["duration_us"] / 1e6
    return {
        "concurrency": connections,
        "requests": result["requests"],
        "seconds": round(seconds, 2),
        "requests_per_s": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p95_ms": result["p95_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["non_2xx"],
        "socket_errors": result["socket_errors"],
    } | (  # the replicas' script breaks the socket errors down by kind
        {"socket_errors_by_kind": {kind: result[kind] for kind in SOCKET_ERROR_KINDS}}
        if all(kind in result for kind in SOCKET_ERROR_KINDS)
        else {}
    )


def run_wrk(
    server: LocalTorchServe, script: Path, csv: Path, connections: int, duration_s: int
) -> dict:
    command = wrk_command(server.prediction_url, script, connections, duration_s)
    cpu_before = server_cpu_seconds(server)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, env={"BENCH_CSV": str(csv)}
    ).stdout
    cpu_used = server_cpu_seconds(server) - cpu_before
    found = parse_wrk(output, connections)
    # what a request costs the server whatever else runs on the machine: the throughput
    # ceiling on N idle cores is about N * 1000 / server_cpu_ms_per_request
    found["server_cpu_ms_per_request"] = cpu_used * 1000 / max(found["requests"], 1)
    return found


def answer_to(server: LocalTorchServe, csv: Path, label: str) -> dict:
    """The server's JSON answer to one POST of the CSV. A server that refuses the CSV would be
    timed answering errors, so the benchmark stops here with its answer instead."""
    request = urllib.request.Request(
        server.prediction_url, data=csv.read_bytes(), headers={"Content-Type": "text/csv"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")[:300]
        raise StockcastError(
            f"{label} answers the benchmark's CSV with HTTP {error.code}: {body}"
        ) from error


def load_levels(
    layout: ProjectLayout,
    store: Path,
    model_name: str,
    label: str,
    scratch: Path,
    csv: Path,
    duration_s: int,
    progress: Callable[[str], None] = lambda line: None,
) -> Levels:
    """Start a fresh TorchServe for `<store>/<model_name>.mar`, check it answers the CSV, run wrk
    at each concurrency, stop it."""
    script = scratch / "post_csv.lua"
    script.write_text(WRK_SCRIPT)
    state = Path(tempfile.mkdtemp(prefix=f"{model_name}-", dir=scratch))
    server = LocalTorchServe.start(layout, store, state, ports=Ports.free(), model_name=model_name)
    try:
        settings = server.describe()
        answer = answer_to(server, csv, label)
        run_wrk(server, script, csv, 8, WARMUP_S)  # warm-up, discarded
        results = []
        for c in CONCURRENCY:
            results.append(run_wrk(server, script, csv, c, duration_s))
            progress(
                f"{label}, c={c}: {results[-1]['requests_per_s']:,.0f} requests/s, "
                f"p50 {results[-1]['p50_ms']:.2f} ms"
            )
        return Levels(settings, answer, results)
    finally:
        server.stop()


def summarize(rounds: list[list[dict]]) -> dict:
    """One server's figures over its rounds: medians of rates, latencies and CPU; summed errors."""
    levels = {}
    for c, results in zip(CONCURRENCY, zip(*rounds, strict=True), strict=True):
        levels[c] = {
            key: statistics.median(r[key] for r in results)
            for key in ("requests_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_request")
        } | {"errors": sum(r["non_2xx"] + r["socket_errors"] for r in results)}
    return {
        "p50_ms_c1": levels[1]["p50_ms"],
        "requests_per_s_c8": levels[8]["requests_per_s"],
        "requests_per_s_c32": levels[32]["requests_per_s"],
        "server_cpu_ms_per_request_c8": levels[8]["server_cpu_ms_per_request"],
        "errors": sum(level["errors"] for level in levels.values()),
        "levels": {str(c): level for c, level in levels.items()},
    }


def ratios_to(ours: dict, other: dict) -> dict:
    """A server's figures over another's (a floor, or a baseline release)."""
    return {
        "p50_c1": ours["p50_ms_c1"] / other["p50_ms_c1"],
        "requests_per_s_c8": ours["requests_per_s_c8"] / other["requests_per_s_c8"],
        "requests_per_s_c32": ours["requests_per_s_c32"] / other["requests_per_s_c32"],
        "server_cpu_ms_per_request_c8": ours["server_cpu_ms_per_request_c8"]
        / other["server_cpu_ms_per_request_c8"],
    }
