"""``python -m eclip``: the ``eclip`` command (eclip/cli.py)."""

import sys

from eclip.cli import main

if __name__ == "__main__":
    sys.exit(main())
