"""`lunglens` and `python -m lunglens`: the command line (`lunglens.cli`); without a subcommand
it starts the viewer."""

import sys

from lunglens.cli import main

if __name__ == "__main__":
    sys.exit(main())
