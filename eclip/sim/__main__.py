"""``python -m eclip.sim build-demo ...`` (same as ``python -m eclip.data build-demo``)."""

import sys

from eclip.data.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] if sys.argv[1:2] == ["build-demo"] else ["build-demo", *sys.argv[1:]]))
