"""Scripts end in one readable line for a user error and keep the traceback for a bug."""

from __future__ import annotations

import subprocess

import pytest

from stockcast.app.script import run_script
from stockcast.errors import DataSourceError


def test_a_user_error_is_one_line_on_stderr_and_exit_status_2(capsys):
    def main() -> int:
        raise DataSourceError("no data for ticker 'NOPE':\n  looked in data/NOPE.csv")

    with pytest.raises(SystemExit) as exited:
        run_script(main)
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: no data for ticker 'NOPE': looked in data/NOPE.csv\n"


def test_a_failed_subprocess_names_its_command_when_the_script_expects_it(capsys):
    def main() -> int:
        raise subprocess.CalledProcessError(3, ["torch-model-archiver", "--force"])

    with pytest.raises(SystemExit) as exited:
        run_script(main, expected=(subprocess.CalledProcessError,))
    assert exited.value.code == 2
    assert "torch-model-archiver --force exited with status 3" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback():
    def main() -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_script(main)


@pytest.mark.parametrize(("returned", "status"), [(None, 0), (0, 0), (1, 1)])
def test_the_scripts_own_status_is_the_exit_status(returned, status):
    with pytest.raises(SystemExit) as exited:
        run_script(lambda: returned)
    assert exited.value.code == status
