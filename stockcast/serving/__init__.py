"""Served. The request path inside a TorchServe worker: the fast CSV read, refusals, upload limits and
the handler's metrics. Shipped whole in the archive with `inputs` and `model`."""
