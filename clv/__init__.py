"""The ``clv`` command line: one Typer app composed from the stages' commands, and the names every stage shares."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed version of the ``customer-value`` distribution (``0+unknown`` when run from a bare checkout)."""
    try:
        return version("customer-value")
    except PackageNotFoundError:
        return "0+unknown"
