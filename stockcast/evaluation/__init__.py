"""Offline. Scoring forecasts: point and band metrics, method comparisons (Diebold-Mariano, interval
score) and the reference bands (naive, EWMA, GARCH). The network and its references go through the
same code."""
