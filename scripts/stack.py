"""The local serving stack behind `make run` / `make serve` / `make stop`: `up`, `serve`, `down`
or `status`.

See stockcast/ops/stack.py for what each does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from stockcast.ops import stack
from stockcast.ops.layout import ProjectLayout

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the local serving stack (make run / make stop)")
    parser.add_argument("command", choices=("up", "serve", "down", "status"))
    command = parser.parse_args(argv).command
    layout = ProjectLayout(ROOT)
    try:
        commands = {
            "up": stack.up,
            "serve": stack.serve,
            "down": stack.down,
            "status": stack.status,
        }
        return commands[command](layout)
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        if command in ("up", "serve"):
            stack.down(layout, quiet=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
