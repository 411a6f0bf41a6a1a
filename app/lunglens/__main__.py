"""`lunglens` and `python -m lunglens`: the command line (the viewer joins here later)."""

import sys

from lunglens.cli import main

if __name__ == "__main__":
    sys.exit(main())
