"""Offline. The walk-forward backtest that refits on a schedule and scores the served band beside its
references, its report and summaries, and the promotion rule that decides between two versions."""
