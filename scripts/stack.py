"""The local serving stack behind `make run` / `make serve` / `make stop`: `up [--run RUN]`,
`serve`, `down` or `status`.

See stockcast/stack/control.py for which run `up` serves and what each command does.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.stack import control as stack

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the local serving stack (make run / make stop)")
    parser.add_argument("command", choices=("up", "serve", "down", "status"))
    parser.add_argument(
        "--run",
        type=Path,
        help="up: the training run to serve (default: the newest complete, non-debug run, or "
        "the archive `make package` built after it)",
    )
    args = parser.parse_args(argv)
    layout = ProjectLayout(ROOT)
    try:
        if args.command == "up":
            return stack.up(layout, args.run)
        commands = {"serve": stack.serve, "down": stack.down, "status": stack.status}
        return commands[args.command](layout)
    except Exception:  # whatever stopped `up` or `serve`, leave nothing half-started
        if args.command in ("up", "serve"):
            stack.down(layout, quiet=True)
        raise


if __name__ == "__main__":
    run_script(main, expected=(RuntimeError, OSError, subprocess.CalledProcessError))
