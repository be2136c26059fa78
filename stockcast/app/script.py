"""How every argparse script ends for a person: its exit status, or one `error:` line and status 2.

The Hydra entry points (train.py, backtest.py, lifecycle.py) have `stockcast.app.cli`; the scripts
under `scripts/` and `python -m stockcast.bench` call `run_script(main)` instead of each catching
its own exceptions. A user error is a `StockcastError` or one of the `expected` types a script
names (an OSError from a missing file, a failed subprocess); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from stockcast.errors import StockcastError

USER_ERROR_EXIT = 2


def one_line(error: BaseException) -> str:
    """The error's message on one line (a subprocess failure names its command)."""
    if isinstance(error, subprocess.CalledProcessError):
        command = error.cmd if isinstance(error.cmd, str) else " ".join(map(str, error.cmd))
        text = f"{command} exited with status {error.returncode}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def run_script(
    main: Callable[[], int | None],
    expected: Sequence[type[BaseException]] = (),
) -> NoReturn:
    """`sys.exit(main())`; a user error ends in `error: <one line>` on stderr and exit status 2."""
    try:
        status = main()
    except (StockcastError, *expected) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
