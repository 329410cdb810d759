"""`evals bench`: throughput, overhead, FLOPs and scaling of the model and of `evals run`."""
