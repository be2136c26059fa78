"""Lightning overhead: the same LSTM through `Trainer.fit` and a bare PyTorch loop, alternated.

    python scripts/benchmark_training.py [--steps 300] [--rounds 3] [--batch-size 64] [--hidden-size 64]

See stockcast/bench/training.py for what is measured.
"""

from __future__ import annotations

from stockcast.bench.training import main

if __name__ == "__main__":
    main()
