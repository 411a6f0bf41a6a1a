"""Entry point of the frozen LungLens (PyInstaller): the same `main` as the `lunglens` command.

`lunglens batch` starts Dask worker processes (multiprocessing's spawn) by running this executable
again with multiprocessing's own arguments: `freeze_support` turns such a run into the worker (or
resource tracker) it is meant to be, before the command line is parsed."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from lunglens.__main__ import main

    sys.exit(main())
