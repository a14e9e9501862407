"""``python -m eclip.report.metrics``: see :mod:`eclip.report.metrics.cli`."""

import sys

from eclip.report.metrics.cli import main

if __name__ == "__main__":
    sys.exit(main())
