"""Atomic output files: written to a temporary name beside the target, then renamed into place."""

from features.engine import write_table

__all__ = ["write_table"]
