"""A pytest plugin: the suite records its own size and time, stamped, for the docs.

Registered from tests/conftest.py. With `--suite-json PATH` (or the STOCKCAST_SUITE_JSON
environment variable; `make test` passes outputs/results/suite.json) the session writes how many
tests were collected, how many passed, failed, errored, were skipped or deselected, how long it
took and the stamp (stockcast/app/stamp.py); `make results FROM=outputs` renders it. Without
either, nothing is written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stockcast.app.stamp import load_average, write_stamped

ENV = "STOCKCAST_SUITE_JSON"
COUNTED = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite-json",
        type=Path,
        default=os.environ.get(ENV) or None,
        help=f"write the suite's size, time and stamp to this JSON (also ${ENV})",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_started] = (time.perf_counter(), load_average())


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_collected] = session.testscollected  # the selected ones


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    path = config.getoption("suite_json")
    if not path or _started not in config.stash:
        return
    started, load_before = config.stash[_started]
    stats = terminalreporter.stats
    # what pytest's own last line counts
    counts = {("errors" if key == "error" else key): len(stats.get(key, [])) for key in COUNTED}
    figures = {
        "collected": config.stash.get(_collected, 0) + counts["deselected"],
        "counts": counts,
        "exit_status": int(exitstatus),
        "duration_s": round(time.perf_counter() - started, 1),
    }
    write_stamped(Path(path), "suite", figures, load_before)
    terminalreporter.write_line(f"suite record written to {path}")


_started = pytest.StashKey[tuple[float, float]]()  # perf_counter and load average at the start
_collected = pytest.StashKey[int]()
