"""Benchmarks of Enclave against baselines measured alongside; each module exposes ``run() -> list[dict]``.

``python -m bench`` (``make bench``) runs them all and writes ``bench/results.md``.
"""
