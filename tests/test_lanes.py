"""The two test lanes hold: what a test needs decides its markers (tests/conftest.py), so the
fast lane (`-m "not slow and not integration"`) never trains a model or starts a JVM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from stockcast.model.forecaster import Forecaster
from stockcast.model.network import LSTMNet


def test_a_test_not_marked_slow_cannot_train():
    net = LSTMNet(hidden_size=4, num_layers=1)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False)
    with pytest.raises(pytest.fail.Exception, match="not marked slow"):
        trainer.fit(net)  # refused before Lightning looks at its arguments


@pytest.mark.parametrize("program", ["java", "/usr/bin/java", "torchserve", "prometheus"])
def test_a_test_not_marked_integration_cannot_start_a_jvm_or_a_server(program, tmp_path):
    marker = tmp_path / "started"
    with pytest.raises(pytest.fail.Exception, match="not marked integration"):
        subprocess.run([program, f"--never-started={marker}"], check=False)
    assert not marker.exists()


def test_other_programs_start_as_usual():
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_test_that_uses_the_trained_run_is_marked_slow_at_collection(request, pytester):
    items = pytester.getitems(
        """
        import pytest
        @pytest.fixture
        def packaged(trained_run): ...
        def test_uses_it(trained_run): ...
        def test_uses_it_through_another(packaged): ...
        def test_uses_the_tiny_run(tiny_run): ...
        """
    )
    [lanes] = [
        plugin
        for plugin in request.config.pluginmanager.get_plugins()
        if getattr(plugin, "__file__", None) == str(Path(__file__).with_name("conftest.py"))
    ]
    lanes.pytest_collection_modifyitems(items)
    assert [bool(item.get_closest_marker("slow")) for item in items] == [True, True, False]


def test_the_tiny_run_is_a_real_artifact_with_the_network_in_every_answer(tiny_run):
    forecaster = Forecaster.load(tiny_run / "artifact")
    # the network shapes every served band: its head is not the untrained zero
    assert forecaster.net.head[-1].weight.abs().sum() > 0
    weights = torch.load(tiny_run / "artifact" / "weights.pt", weights_only=True)
    assert weights.keys() == forecaster.net.state_dict().keys()
    assert forecaster.calibration.self_rows > 0 and forecaster.drift is not None
