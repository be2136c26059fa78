"""Tooling. The local stack that `make run` starts: TorchServe, Prometheus and the upload page on
loopback, and the commands that start and stop them."""
