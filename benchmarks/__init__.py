"""Reproducible performance harness: prints figures, never asserts timing.

See docs/performance.md for the method and the latest figures.
"""
