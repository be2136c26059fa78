"""Tooling. Measurements: the serving benchmark with its own floor handlers (`handlers/`), the training
overhead benchmark and the soak / worker-kill test. Nothing here is served."""
