"""The stamp every measurement's JSON carries: which code, when, on what machine, how busy.

A figure in the docs is rendered from the JSON its command wrote (`make results`), and the stamp
goes with it: the commit (and whether the checkout had uncommitted changes), the UTC date, the
CPU model and core count, the 1-minute load average before and after, and the command itself.
The development machine is shared, so the load beside a figure says how far to trust it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def load_average() -> float:
    """The 1-minute load average now."""
    return round(os.getloadavg()[0], 2)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first `model name` in /proc/cpuinfo, or the platform's processor name."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return " ".join(value.split())
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def command_line(argv: Sequence[str] | None = None) -> str:
    """How this process was started, as a person would type it (`python -m ...` kept)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith("__main__.py"):
        module = Path(argv[0]).resolve().parent
        parts = (
            module.relative_to(PACKAGE_ROOT).parts
            if module.is_relative_to(PACKAGE_ROOT) and ".venv" not in module.parts
            else (module.name,)
        )
        argv = ["python", "-m", ".".join(parts), *argv[1:]]
    elif argv and argv[0].endswith(".py"):
        script = Path(argv[0]).resolve()
        if script.is_relative_to(PACKAGE_ROOT / "stockcast"):  # a module run with -m
            module = ".".join(script.relative_to(PACKAGE_ROOT).with_suffix("").parts)
            argv = ["python", "-m", module, *argv[1:]]
        else:
            argv = ["python", script.name, *argv[1:]]
    return shlex.join(argv)


def stamp(load_before: float, command: str | None = None, root: Path = PACKAGE_ROOT) -> dict:
    """The stamp for a measurement that began at `load_before` and ends now."""
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(status.strip()) if status is not None else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": round(load_before, 2),
        "load_after": load_average(),
        "command": command if command is not None else command_line(),
    }


def write_stamped(path: Path, name: str, figures: dict[str, Any], load_before: float) -> dict:
    """Write `{"name": name, "stamp": {...}, **figures}` to `path`; the written object."""
    record = {"name": name, "stamp": stamp(load_before), **figures}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return record
