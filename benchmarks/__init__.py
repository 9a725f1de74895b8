"""Benchmarks: runnable scripts (``python -m benchmarks.<name>``) that print ratios."""
