"""Offline. The shell the entry points share: Hydra resolvers and one-line errors, run records,
quieting known library noise, and where a checkout keeps its files."""
