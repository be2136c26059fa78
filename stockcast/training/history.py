"""A CSV logger whose `csv/metrics.csv` survives a resume: the history is kept, not restarted.

Lightning's CSVLogger deletes `metrics.csv` when its writer opens a directory that holds one
("Previous log files in this directory will be deleted"), so a run resumed with `ckpt_path=` into
its own directory kept only the epochs after the resume. Here the file is kept; rows of epochs that
the resumed run trains again (logged after its checkpoint, before the kill) are dropped, so each
epoch appears once. With `flush_logs_every_n_steps: 1` (conf/logger/csv.yaml) every row reaches
the disk as it is logged, so a killed run loses none of the epochs its checkpoint holds.
"""

from __future__ import annotations

import csv

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class HistoryCSVLogger(CSVLogger):
    """`CSVLogger` that appends to an existing `metrics.csv` (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class _AppendingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        self._history_merged = False
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        """Keep what is there: Lightning's writer deletes `metrics.csv` here."""

    def save(self) -> None:
        if self.metrics and not self._history_merged:
            self._merge_history()
        super().save()

    def _merge_history(self) -> None:
        """Keep the earlier rows of epochs before the first one this process logs."""
        self._history_merged = True
        if not self._fs.isfile(self.metrics_file_path):
            return
        first = min((int(row["epoch"]) for row in self.metrics if "epoch" in row), default=0)
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            header = list(reader.fieldnames or [])
            kept = [row for row in reader if int(row["epoch"]) < first]
        if not kept:
            self._fs.rm_file(self.metrics_file_path)
            return
        with self._fs.open(self.metrics_file_path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = header  # the base class extends the header if new keys come
