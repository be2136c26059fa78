"""Serving latency and throughput next to an empty TorchServe handler, measured in one run.

    python scripts/benchmark_serving.py [--mar path/to/stockcast.mar | --run outputs/train/runs/<run>] [--duration 10] [--rounds 3] [--json out.json]

See stockcast/bench/serving.py for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.bench.serving import benchmark, markdown
from stockcast.errors import StockcastError

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mar", type=Path, help="archive to serve (default: --run's)")
    parser.add_argument("--run", type=Path, help="training run to archive (default: the newest)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three servers in turn")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        report = benchmark(ProjectLayout(ROOT), args.mar, args.duration, args.rounds, args.run)
    except StockcastError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
