"""Soak and worker-kill runs against a fresh TorchServe serving the packaged model (loopback).

    python scripts/soak_test.py [--duration 300] [--concurrency 16] [--max-requests 1000000]
                                [--mar model_store/stockcast.mar] [--kill-worker]

Starts TorchServe on free 127.0.0.1 ports with the archive (default: model_store/stockcast.mar),
loads it with the bundled GOOG sample's last 250 rows for a warm-up plus `--duration` seconds, and
prints the soak figures: requests, failures, p95 latency of the first and the last 10 s (and of
every 10 s window), and each worker's resident memory before and after. `--kill-worker` then
SIGKILLs a worker under load and prints the failed requests and TorchServe's recovery time.
Exits 1 when a criterion fails: any failed soak request, p95 over 1.5x the first 10 s in both of
the last two 10 s windows, worker RSS growth of 10% or more, or a failure after recovery; exits 2
on a usage error (e.g. a duration under 30 s, or no archive), with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from stockcast.app.layout import MODEL_NAME, ProjectLayout
from stockcast.bench.soak import MIN_DURATION_S, WINDOW_S, kill_worker_under_load, soak
from stockcast.stack.torchserve import LocalTorchServe, Ports

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=300.0,
        help=f"measured seconds, at least {MIN_DURATION_S:.0f} (three {WINDOW_S:.0f} s windows: "
        "first, middle, last); default 300",
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds excluded first")
    parser.add_argument("--concurrency", type=int, default=16, help="clients, at least 1")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="hard bound")
    parser.add_argument("--mar", type=Path, default=LAYOUT.model_store / f"{MODEL_NAME}.mar")
    parser.add_argument("--kill-worker", action="store_true", help="then SIGKILL a worker")
    args = parser.parse_args(argv)
    # argparse's error(): usage plus one line, exit status 2, before TorchServe is started
    if args.duration < MIN_DURATION_S:
        parser.error(f"--duration {args.duration:g} is under {MIN_DURATION_S:.0f} s")
    if args.concurrency < 1 or args.warmup < 0 or args.max_requests < 1:
        parser.error("--concurrency and --max-requests must be at least 1, --warmup at least 0")
    if not args.mar.is_file():
        parser.error(f"{args.mar} does not exist: run `make package` first")

    body = LAYOUT.sample_upload()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(body)} B CSV")
    try:
        problems = run(args, body)
    except (
        RuntimeError,
        TimeoutError,
        ValueError,
        OSError,
    ) as error:  # e.g. TorchServe won't start
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def run(args: argparse.Namespace, body: bytes) -> list[str]:
    """The soak (and the worker kill) against a fresh TorchServe; the criteria that failed."""
    with tempfile.TemporaryDirectory(prefix="stockcast-soak-") as state:
        server = LocalTorchServe.start(LAYOUT, args.mar.parent, Path(state), ports=Ports.free())
        try:
            report = soak(
                server, body, args.duration, args.concurrency, args.warmup, args.max_requests
            )
            print("soak:\n  " + report.summary().replace("\n", "\n  "))
            problems = report.problems()
            if args.kill_worker:
                kill = kill_worker_under_load(server, body, concurrency=args.concurrency)
                print("worker kill:\n  " + kill.summary().replace("\n", "\n  "))
                if kill.failed_after_recovery:
                    problems.append(f"{len(kill.failed_after_recovery)} failed after recovery")
        finally:
            server.stop()
    return problems


if __name__ == "__main__":
    sys.exit(main())
