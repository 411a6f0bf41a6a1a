"""`lunglens` and `python -m lunglens`: the command line for a known subcommand (or --help,
--version), else the viewer (`lunglens`, `lunglens PATH`, `lunglens --demo`). Qt is imported
only on the viewer's path."""

import sys
from collections.abc import Sequence

CLI_FIRST_ARGUMENTS = {"info", "analyze", "demo-data", "lesions", "-h", "--help", "--version"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in CLI_FIRST_ARGUMENTS:
        from lunglens.cli import main as cli_main

        return cli_main(argv)
    from lunglens.ui.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
