"""OmegaConf resolvers the configs use; every entry point registers them before Hydra composes."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from stockcast.app.layout import ProjectLayout, read_properties


def register_resolvers() -> None:
    """`${tty:}` is true in a terminal: rich progress bars there, plain logs in CI and files.
    `${torchserve:management}` (or `inference`, `metrics`) is that API's address in the
    checkout's torchserve/config.properties, the one source of where `make run`'s server listens.
    """
    if not OmegaConf.has_resolver("tty"):
        OmegaConf.register_new_resolver("tty", lambda: sys.stdout.isatty())
    if not OmegaConf.has_resolver("torchserve"):
        OmegaConf.register_new_resolver("torchserve", torchserve_address)


def torchserve_address(api: str) -> str:
    """`<api>_address` of torchserve/config.properties in the checkout around the working
    directory, e.g. http://127.0.0.1:8081 for `management`."""
    properties = read_properties(ProjectLayout.find().serving_config)
    return properties[f"{api}_address"]
