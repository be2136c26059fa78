"""Operating the service: packaging archives, the local TorchServe/Prometheus stack, soak and benchmarks."""
