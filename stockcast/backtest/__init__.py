"""Walk-forward backtest core: reference bands (naive, EWMA, GARCH) and the scores that judge them."""
