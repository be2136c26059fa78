"""Served. The inference artifact: features and windows, network, scaling, calibration, drift and the
`Forecaster` that loads a state_dict plus one JSON file (torch, NumPy and pandas only). Shipped whole."""
