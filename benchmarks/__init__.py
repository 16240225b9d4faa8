"""Benchmark scripts; run each from the repository root.

``.venv/bin/python -m benchmarks.<name>``
"""
