"""``python -m eclip.index build|info``: see ``eclip.index.cli``."""

import sys

from eclip.index.cli import main

if __name__ == "__main__":
    sys.exit(main())
