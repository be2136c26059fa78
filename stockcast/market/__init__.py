"""Offline. Market data for training: downloading with yfinance, the validated CSV cache and its record,
and which sessions have closed. Never shipped: a worker reads uploads, not Yahoo."""
