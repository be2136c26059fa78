"""The request path inside a TorchServe worker: parsing, refusals, upload limits and handler metrics."""
