"""Training runs: the Lightning module and data, `train(cfg)`, offline scores and the report."""
