"""Entry point of the frozen LungLens (PyInstaller): the same `main` as the `lunglens` command."""

import sys

from lunglens.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
