"""What `make run` and `scripts/stack.py status` print after the forecast: where everything is."""

from __future__ import annotations

from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.stack.control import print_urls
from stockcast.stack.torchserve import LocalTorchServe, Ports

ROOT = Path(__file__).resolve().parents[2]


def mlflow_lines(capsys, tmp_path: Path) -> list[str]:
    layout = ProjectLayout(ROOT)
    server = LocalTorchServe(Ports.configured(layout), 0, tmp_path, layout.model_name)
    print_urls(layout, server)
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("mlflow:")]


def test_the_tracking_store_is_printed_on_a_line_of_its_own(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    (line,) = mlflow_lines(capsys, tmp_path)
    assert f"sqlite:///{ROOT / 'outputs' / 'mlflow' / 'mlflow.db'}" in line
    assert "make mlflow" in line
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.org")
    (line,) = mlflow_lines(capsys, tmp_path)
    assert "https://mlflow.example.org" in line
