"""``python -m market``: the ``compute-market`` command."""

from market.cli import console

console()
