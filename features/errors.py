"""The one exception type for bad input: the CLI maps it to exit 2, the service to HTTP 422."""

from __future__ import annotations


class InputError(ValueError):
    """Input that the user must fix: the message says what is wrong and where."""
