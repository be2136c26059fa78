"""stockcast: forecast a stock's next close, serve it, and watch it in production."""

__version__ = "0.1.0"
