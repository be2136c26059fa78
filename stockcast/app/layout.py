"""Where a stockcast checkout keeps what the ops tools read and write, derived from one root.

The installed package never assumes it sits inside the repository: scripts and tests pass the
root they know (`ProjectLayout.find()` walks up from the working directory), and every path the
packaging, the local stack and the benchmarks use is a property here, written once. What the
tools share with training (the model's name, where runs land, the rows of a typical upload) is
read from the checkout's Hydra config, its one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from stockcast.errors import StockcastError


def read_properties(path: Path) -> dict[str, str]:
    """`key=value` lines of a Java properties file (no continuation lines, as ours has none)."""
    properties = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            properties[key.strip()] = value.strip()
    return properties


@cache
def training_config(conf_dir: Path) -> DictConfig:
    """`conf_dir`/train.yaml composed as `python train.py` composes it, without overrides (read
    only, composed once per directory). Inside a running Hydra app (lifecycle.py), that app's
    own config search path answers."""
    if not (conf_dir / "train.yaml").is_file():
        raise StockcastError(f"no {conf_dir / 'train.yaml'}: run from a stockcast checkout")
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="train")
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name="train")


@dataclass(frozen=True)
class ProjectLayout:
    """The checkout's directories and files; nothing here is created on construction."""

    root: Path

    @classmethod
    def find(cls, start: str | Path | None = None) -> ProjectLayout:
        """The nearest directory at or above `start` (default: the working directory) holding
        `conf/train.yaml` and `torchserve/config.properties`."""
        here = Path(start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            layout = cls(candidate)
            if (candidate / "conf" / "train.yaml").is_file() and layout.serving_config.is_file():
                return layout
        raise StockcastError(
            f"{here} is not inside a stockcast checkout (no conf/train.yaml and "
            "torchserve/config.properties above it); run from the repository"
        )

    # TorchServe's settings (torchserve/), the handler and what the archive carries
    @property
    def serving_config(self) -> Path:
        return self.root / "torchserve" / "config.properties"

    @property
    def log_config(self) -> Path:
        return self.root / "torchserve" / "log4j2.xml"

    @property
    def model_config(self) -> Path:
        return self.root / "torchserve" / "model-config.yaml"

    @property
    def metrics_config(self) -> Path:
        return self.root / "torchserve" / "metrics.yaml"

    @property
    def handler(self) -> Path:
        return self.root / "handlers" / "stockcast_handler.py"

    @property
    def bench_handlers(self) -> Path:
        """The benchmark's own handlers, kept with the benchmark code (never in stockcast.mar)."""
        return self.root / "stockcast" / "bench" / "handlers"

    @property
    def empty_handler(self) -> Path:
        """The do-nothing handler that `make bench-serving` measures stockcast against."""
        return self.bench_handlers / "empty_handler.py"

    @property
    def checks_handler(self) -> Path:
        """`make bench-serving`'s second floor: stockcast's handler without the forecast, archived
        with the benchmarked archive's contents."""
        return self.bench_handlers / "checks_handler.py"

    @property
    def web_dir(self) -> Path:
        return self.root / "web"

    @property
    def dockerfile(self) -> Path:
        return self.root / "deploy" / "Dockerfile"

    @property
    def serving_requirements(self) -> Path:
        """The libraries the serving image installs for the archive (pinned)."""
        return self.root / "deploy" / "requirements-serving.txt"

    # what the tools share with training, from conf/train.yaml
    @property
    def config(self) -> DictConfig:
        """The training config (`training_config`): read it, never change it."""
        return training_config(self.root / "conf")

    @property
    def model_name(self) -> str:
        """The name TorchServe registers and the URL path `/predictions/<name>` (`model_name`;
        training also writes it into the artifact as `info.name`)."""
        return str(self.config.model_name)

    @property
    def upload_rows(self) -> int:
        """Rows of a typical upload, about a year (`upload_rows`): what the load tests, the soak
        and the benchmarks POST, and what the backtest and the lifecycle forecast from."""
        return int(self.config.upload_rows)

    # runs, archives and the local stack's state
    @property
    def runs_dir(self) -> Path:
        """Where `python train.py` puts single runs (`paths.runs_dir`, under which Hydra makes
        each run's directory)."""
        return self.root / self.config.paths.runs_dir

    @property
    def mlflow_dir(self) -> Path:
        """The embedded MLflow store's folder (`paths.mlflow_dir`: mlflow.db and artifacts/),
        where runs are tracked unless MLFLOW_TRACKING_URI names a server."""
        return self.root / self.config.paths.mlflow_dir

    @property
    def model_store(self) -> Path:
        return self.root / "model_store"

    @property
    def state_dir(self) -> Path:
        """Pids and logs of what `make run` started, for `make stop`."""
        return self.root / ".run"

    @property
    def prometheus_local_config(self) -> Path:
        return self.root / "monitoring" / "prometheus" / "prometheus.local.yml"

    @property
    def alert_rules_dir(self) -> Path:
        return self.root / "monitoring" / "prometheus" / "rules"

    # data
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def sample_csv(self) -> Path:
        """The bundled GOOG sample that `make run`, the benchmarks and the load tests send."""
        return self.data_dir / "GOOG.csv"

    def sample_upload(self, rows: int | None = None) -> bytes:
        """The header and the last `rows` rows of the sample (default `upload_rows`): what a
        client typically POSTs."""
        rows = self.upload_rows if rows is None else rows
        lines = self.sample_csv.read_text().splitlines()
        return ("\n".join([lines[0], *lines[-rows:]]) + "\n").encode()
