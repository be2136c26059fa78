"""`python -m stockcast.bench serving|training|soak [options]` (see stockcast/bench/cli.py)."""

from stockcast.bench.cli import run

run()
