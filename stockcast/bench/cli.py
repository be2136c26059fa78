"""`python -m stockcast.bench serving|training|soak|batch`: the benchmarks and their entry point.

- `serving`: wrk against an empty handler, the checks handler and the stockcast archive, in turn,
  and a previous release's archive with `--baseline-mar` (stockcast/bench/serving.py);
- `training`: Lightning's `Trainer.fit` against a bare PyTorch loop (stockcast/bench/training.py);
- `soak`: sustained load on a fresh loopback TorchServe, then optionally a worker SIGKILLed under
  load (stockcast/bench/soak.py). Exits 1 when a criterion fails: any failed soak request, p95
  over 1.5x the first 10 s in both of the last two 10 s windows, worker RSS growth of 10% or
  more, or a failure after recovery;
- `batch`: `python forecast.py`'s batch path (the service's `answer_batch` in chunks, no server)
  on a universe made from the bundled series: tickers per second (stockcast/bench/batch_forecast.py).

The long ones say up front about how long they will take and print a line per finished stage.
`--json PATH` writes the figures with a stamp (commit, date, CPU, load; stockcast/app/stamp.py),
which `make results` renders into the docs. A user error (a duration under 30 s, no archive, no
wrk, TorchServe that will not start) is one `error:` line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.app.stamp import load_average, write_stamped

PROG = "python -m stockcast.bench"


def say(line: str) -> None:
    """One progress line, at once (the output may be piped to a file or `tee`)."""
    print(line, flush=True)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def parser() -> argparse.ArgumentParser:
    """The three subcommands and every option they take."""
    from stockcast.bench.soak import MIN_DURATION_S, WINDOW_S

    top = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = top.add_subparsers(
        dest="command", required=True, metavar="serving|training|soak|batch"
    )

    serving = commands.add_parser(
        "serving", help="latency and throughput next to TorchServe's empty handler (wrk)"
    )
    serving.add_argument("--mar", type=Path, help="archive to serve (default: --run's)")
    serving.add_argument("--run", type=Path, help="training run to archive (default: the newest)")
    serving.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    serving.add_argument("--rounds", type=int, default=3, help="rounds of the servers in turn")
    serving.add_argument(
        "--baseline-mar",
        type=Path,
        help="a previous release's archive, served beside --mar's in every round with the same "
        "worker settings; adds stockcast / baseline (p50 at c=1, requests/s at c=8)",
    )
    serving.add_argument("--json", type=Path, help="also write the stamped results here")

    training = commands.add_parser(
        "training", help="Lightning's Trainer.fit against a bare PyTorch loop, alternated"
    )
    training.add_argument("--steps", type=int, default=300)
    training.add_argument("--rounds", type=int, default=5)
    training.add_argument("--batch-size", type=int, default=64)
    training.add_argument("--hidden-size", type=int, default=64)
    training.add_argument("--json", type=Path, help="also write the stamped results here")

    soak = commands.add_parser(
        "soak", help="sustained load on a fresh loopback TorchServe, then a worker kill"
    )
    soak.add_argument(
        "--duration",
        type=float,
        default=300.0,
        help=f"measured seconds, at least {MIN_DURATION_S:.0f} (three {WINDOW_S:.0f} s windows: "
        "first, middle, last); default 300",
    )
    soak.add_argument("--warmup", type=float, default=5.0, help="seconds excluded first")
    soak.add_argument("--concurrency", type=int, default=16, help="clients, at least 1")
    soak.add_argument(
        "--max-requests",
        type=int,
        default=1_000_000,
        help="hard bound on the measured requests (the warm-up's do not count); reaching it "
        "ends the soak early, which the output says",
    )
    soak.add_argument("--mar", type=Path, help="archive (default: model_store/<model_name>.mar)")
    soak.add_argument("--kill-worker", action="store_true", help="then SIGKILL a worker")
    soak.add_argument("--json", type=Path, help="also write the stamped results here")
    soak.set_defaults(usage=soak)  # its error(): usage plus one line, exit 2

    batch = commands.add_parser(
        "batch", help="python forecast.py's batch path: tickers forecast per second, no server"
    )
    batch.add_argument("--tickers", type=int, default=100, help="names in the universe")
    batch.add_argument("--rows", type=int, default=260, help="last rows of each series sent")
    batch.add_argument("--chunk-size", type=int, default=64, help="uploads per answer_batch call")
    batch.add_argument("--rounds", type=int, default=3)
    batch.add_argument("--mar", type=Path, help="archive (default: model_store/<model_name>.mar)")
    batch.add_argument("--json", type=Path, help="also write the stamped results here")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check the options before anything starts, run the subcommand; its exit status."""
    top = parser()
    args = top.parse_args(argv)
    load_before = load_average()
    if args.command == "serving":
        return serving(args, load_before)
    if args.command == "training":
        return training(args, load_before)
    if args.command == "batch":
        return batch(args, load_before)
    return soak(args, load_before)


def serving(args: argparse.Namespace, load_before: float) -> int:
    from stockcast.bench.serving import benchmark, benchmark_seconds, markdown

    if args.duration < 1 or args.rounds < 1:
        raise ValueError("--duration and --rounds must be at least 1")
    baseline = args.baseline_mar is not None
    say(
        f"about {minutes(benchmark_seconds(args.duration, args.rounds, baseline))}: "
        f"{args.rounds} round(s) of {'four' if baseline else 'three'} servers, {args.duration} s "
        "per concurrency level"
    )
    report = benchmark(
        ProjectLayout.find(),
        args.mar,
        args.duration,
        args.rounds,
        args.run,
        progress=say,
        baseline_mar=args.baseline_mar,
    )
    print(markdown(report))
    if args.json:
        write_stamped(args.json, "latency", report, load_before)
        say(f"written to {args.json}")
    return 0


def training(args: argparse.Namespace, load_before: float) -> int:
    from stockcast.bench.training import measure, summary

    if min(args.steps, args.rounds, args.batch_size, args.hidden_size) < 1:
        raise ValueError("--steps, --rounds, --batch-size and --hidden-size must be at least 1")
    figures = measure(args.steps, args.rounds, args.batch_size, args.hidden_size, progress=say)
    print(summary(figures))
    if args.json:
        write_stamped(args.json, "training-overhead", figures, load_before)
        say(f"written to {args.json}")
    return 0


def batch(args: argparse.Namespace, load_before: float) -> int:
    from stockcast.bench.batch_forecast import measure, summary

    if min(args.tickers, args.rows, args.chunk_size, args.rounds) < 1:
        raise ValueError("--tickers, --rows, --chunk-size and --rounds must be at least 1")
    figures = measure(args.mar, args.tickers, args.rows, args.chunk_size, args.rounds, say)
    print(summary(figures))
    if args.json:
        write_stamped(args.json, "batch-forecast", figures, load_before)
        say(f"written to {args.json}")
    return 0


def soak(args: argparse.Namespace, load_before: float) -> int:
    from stockcast.bench.soak import MIN_DURATION_S, kill_worker_under_load, soak_seconds
    from stockcast.bench.soak import soak as run_soak
    from stockcast.stack.torchserve import LocalTorchServe, Ports

    usage: argparse.ArgumentParser = args.usage
    if args.duration < MIN_DURATION_S:
        usage.error(f"--duration {args.duration:g} is under {MIN_DURATION_S:.0f} s")
    if args.concurrency < 1 or args.warmup < 0 or args.max_requests < 1:
        usage.error("--concurrency and --max-requests must be at least 1, --warmup at least 0")
    layout = ProjectLayout.find()
    mar = args.mar or layout.model_store / f"{layout.model_name}.mar"
    if not mar.is_file():
        usage.error(f"{mar} does not exist: run `make package` first")

    body = layout.sample_upload()
    say(
        f"about {minutes(soak_seconds(args.duration, args.warmup, args.kill_worker))}: "
        f"{args.warmup:g} s warm-up + {args.duration:g} s at concurrency {args.concurrency}"
        + (", then a worker SIGKILLed under load" if args.kill_worker else "")
    )
    say(f"{os.cpu_count()} CPUs, load average {load_before:.2f}; {len(body)} B CSV")
    problems: list[str] = []
    figures: dict = {
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "max_requests": args.max_requests,
            "csv_bytes": len(body),
        },
        "worker_kill": None,
    }
    with tempfile.TemporaryDirectory(prefix="stockcast-soak-") as state:
        server = LocalTorchServe.start(layout, mar.parent, Path(state), ports=Ports.free())
        say("TorchServe started")
        try:
            report = run_soak(
                server,
                body,
                args.duration,
                args.concurrency,
                args.warmup,
                args.max_requests,
                progress=lambda line: say(f"soak: {line}"),
            )
            print("soak:\n  " + report.summary().replace("\n", "\n  "))
            problems += report.problems()
            figures["soak"] = report.figures()
            if args.kill_worker:
                kill = kill_worker_under_load(server, body, concurrency=args.concurrency)
                print("worker kill:\n  " + kill.summary().replace("\n", "\n  "))
                if kill.failed_after_recovery:
                    problems.append(f"{len(kill.failed_after_recovery)} failed after recovery")
                figures["worker_kill"] = kill.figures() | {"concurrency": args.concurrency}
        finally:
            server.stop()
    for problem in problems:
        print(f"FAIL: {problem}")
    if args.json:
        write_stamped(args.json, "soak", figures | {"problems": problems}, load_before)
        say(f"written to {args.json}")
    return 1 if problems else 0


def run() -> None:
    """The console entry: one-line errors (TorchServe that will not start, a bad option value,
    an unreadable file) and exit status 2."""
    run_script(main, expected=(RuntimeError, TimeoutError, ValueError, OSError))
