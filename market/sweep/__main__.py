"""``python -m market.sweep STUDY.toml [--workers N] [--scheduler ADDRESS] [--out DIR]``."""

import sys

from market.sweep import cli

if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
