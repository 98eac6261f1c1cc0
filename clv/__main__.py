"""``python -m clv``: the same as the ``clv`` command."""

from clv.app import main

main()
