"""Offline. Training runs: the Lightning module and data, `train(cfg)`, the deployable refit and the
run's report."""
