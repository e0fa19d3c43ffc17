"""Benchmarks of Enclave's hot paths; each module exposes ``run() -> list[dict]`` and prints when run."""
