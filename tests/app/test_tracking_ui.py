"""MLflow's UI as `make mlflow` opens it, in a real headless Chromium, on a store of its own that
holds one real train.py run and the version packaged from it: the run is listed by its name, its
page shows the test interval score it logged and its config, and the registry shows the version
as the champion. The run's page is what the docs show of tracking."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from stockcast.app.layout import ProjectLayout
from stockcast.app.tracking import OUTPUT_DIR_TAG, local_store_uri
from stockcast.release.packaging import build_mar
from stockcast.release.registry import CHAMPION, Registry
from stockcast.release.versions import archive_version
from stockcast.stack.mlflow_ui import running
from stockcast.stack.torchserve import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
# what the docs show of a tracked run: `make results FROM=outputs` copies it to docs/img/
SCREENSHOT = ROOT / "outputs" / "results" / "mlflow-run.png"
# the run's name in the UI is its directory's
RUN_NAME = "lstm-h16-2-epochs"
TINY = ("trainer.max_epochs=2", "model.net.hidden_size=16", "trainer.enable_progress_bar=false")
# the test split's relative interval score (stockcast/training/run.py), what a run is judged by
INTERVAL_SCORE = "test/winkler"


@dataclass(frozen=True)
class TrackedRun:
    url: str  # the UI's
    experiment_id: str
    run_id: str
    interval_score: float  # as metrics.json reports it
    model_version: str


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> TrackedRun:
    """train.py into a fresh store (`make run`'s tracked path, tiny settings), its artifact
    packaged and registered as the champion, and `make mlflow`'s UI started on that store."""
    home = tmp_path_factory.mktemp("mlflow-ui")
    uri = local_store_uri(home / "mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    run_dir = home / RUN_NAME
    trained = subprocess.run(
        [sys.executable, "train.py", *TINY, "refit=false", f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    interval_score = json.loads((run_dir / "metrics.json").read_text())[INTERVAL_SCORE]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("train")
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{run_dir}'"
    )
    registry = Registry(uri, LAYOUT.model_name)
    served = archive_version(build_mar(LAYOUT, run_dir, home / "model_store"))
    version = registry.register(home / "model_store", served, run_dir)
    registry.deploy(served)
    assert version.run_id == run.info.run_id  # the version's source is the training's run

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    make_mlflow = [sys.executable, str(ROOT / "scripts" / "mlflow_ui.py"), "--port", str(port)]
    with running(make_mlflow, url, home / "ui.log", env=env, cwd=ROOT):
        yield TrackedRun(
            url, experiment.experiment_id, run.info.run_id, interval_score, version.version
        )


@pytest.fixture
def page(browser, tracked):
    """A page on the UI with its "Model training" view chosen (MLflow 3 opens on its GenAI one)
    and its assistant's panel closed, as a user sets them once."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{tracked.url}/#/experiments")
    page.get_by_role("button", name="Model training", exact=True).click()
    page.get_by_role("button", name="Close", exact=True).click()
    yield page
    page.close()


def test_the_run_is_listed_by_name_with_its_interval_score_and_config_on_its_page(page, tracked):
    from playwright.sync_api import expect

    page.goto(f"{tracked.url}/#/experiments/{tracked.experiment_id}/runs")
    page.get_by_role("link", name=RUN_NAME, exact=True).click()
    expect(page).to_have_url(
        f"{tracked.url}/#/experiments/{tracked.experiment_id}/runs/{tracked.run_id}"
    )
    expect(page.get_by_role("heading", name=RUN_NAME)).to_be_visible()

    page.get_by_placeholder("Search metrics").fill(INTERVAL_SCORE)
    score = page.get_by_role("row").filter(has_text=INTERVAL_SCORE)
    expect(score).to_have_count(1)
    shown = float(score.inner_text().split()[-1])
    assert shown == pytest.approx(tracked.interval_score, rel=1e-12)
    page.get_by_placeholder("Search parameters").fill("model.net")
    expect(page.get_by_role("row").filter(has_text="model.net.hidden_size")).to_contain_text("16")

    # the page's placeholders ("Child runs loading", ...) filled in: the picture shows answers
    expect(page.get_by_text(re.compile(r" loading$"))).to_have_count(0)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_registry_shows_the_registered_version_as_the_champion(page, tracked):
    from playwright.sync_api import expect

    page.goto(f"{tracked.url}/#/models/{LAYOUT.model_name}")
    version = page.get_by_role("row").filter(has_text=f"Version {tracked.model_version}")
    expect(version).to_contain_text(CHAMPION)
