"""Third-party messages that tell a stockcast user nothing, each silenced by its exact text.

Nothing here is a blanket filter: every entry names the library, the message and why it carries no
information for this project, so a new warning still reaches the user. (Optuna's alembic "setup
plugin" lines are set to WARNING in conf/hydra/default.yaml, as they come before any job runs.)
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(fragment in record.getMessage() for fragment in self.fragments)


def silence_known_noise() -> None:
    """Install the filters below; idempotent, so every entry point may call it."""
    # torch 2.13 deprecates constructing `LeafSpec()`, which Lightning 2.6's own pytree helper does
    # for every dataloader it wraps: a note to Lightning's maintainers, printed on every run.
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )
    notes = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropMessages) for f in notes.filters):
        notes.addFilter(
            _DropMessages(
                # Lightning advertises its hosted logger whenever a run has none of its loggers.
                "try installing [litlogger]",
                # said before every test pass and resume; the line that follows ("Loaded model
                # weights from ...", "Restored all states from ...") names the same file
                "Restoring states from the checkpoint path at ",
            )
        )


def expect_own_checkpoints(checkpoint_dir: str | Path) -> None:
    """Silence Lightning's "Checkpoint directory ... exists and is not empty" for this directory
    only: a run resumed into its own directory finds its own checkpoints there. Any other
    directory (a new run pointed at an old one's) still gets the warning."""
    directory = re.escape(os.path.realpath(checkpoint_dir))
    warnings.filterwarnings(
        "ignore", message=rf"Checkpoint directory {directory} exists and is not empty"
    )
