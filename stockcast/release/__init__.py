"""Tooling. Releasing a model: building the `.mar`, versions in the model store, TorchServe's
management API, and the retrain / promote / roll back lifecycle."""
