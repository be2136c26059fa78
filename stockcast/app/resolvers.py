"""OmegaConf resolvers the configs use; every entry point registers them before Hydra composes."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf


def register_resolvers() -> None:
    """`${tty:}` is true in a terminal: rich progress bars there, plain logs in CI and files."""
    if not OmegaConf.has_resolver("tty"):
        OmegaConf.register_new_resolver("tty", lambda: sys.stdout.isatty())
