"""The inference artifact: network, scaling, calibration and the `Forecaster` (torch, NumPy and pandas only)."""
