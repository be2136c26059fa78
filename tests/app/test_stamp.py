"""A measurement's stamp names the command that made it as a person would type it again."""

from __future__ import annotations

from stockcast.app.stamp import PACKAGE_ROOT, command_line


def test_a_module_run_with_dash_m_is_named_as_such():
    script = PACKAGE_ROOT / "stockcast" / "bench" / "multi_ticker.py"
    assert command_line([str(script), "--json", "out.json"]) == (
        "python -m stockcast.bench.multi_ticker --json out.json"
    )


def test_a_package_run_through_its_main_is_named_by_the_package():
    main = PACKAGE_ROOT / "stockcast" / "bench" / "__main__.py"
    assert command_line([str(main), "batch"]) == "python -m stockcast.bench batch"


def test_an_entry_script_at_the_root_is_named_by_its_file():
    script = PACKAGE_ROOT / "lifecycle.py"
    assert command_line([str(script), "command=retrain", "seed=1"]) == (
        "python lifecycle.py command=retrain seed=1"
    )
