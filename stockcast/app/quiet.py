"""Third-party messages that tell a stockcast user nothing, each silenced by its exact text.

Nothing here is a blanket filter: every entry names the library, the message and why it carries no
information for this project, so a new warning still reaches the user. (Optuna's alembic "setup
plugin" lines are set to WARNING in conf/hydra/default.yaml, as they come before any job runs.)
"""

from __future__ import annotations

import logging
import warnings


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
    # Lightning advertises its hosted logger whenever a run has none of its loggers.
    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropMessages) for f in tips.filters):
        tips.addFilter(_DropMessages("try installing [litlogger]"))
