"""vargpt-evals: the evaluation harness (CLI, adapter, task API, runner, records, tables)."""

__version__ = "0.1.0"
