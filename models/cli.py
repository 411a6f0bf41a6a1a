"""What the command-line scripts in models/ share: bad input is one line on stderr naming the file and
the reason, exit code 2 (as the app's command line), never a traceback; a model output that is not a
.onnx file, or that (or its card beside it) is one of the inputs, is refused before anything is written."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from lunglens.atomic import WriteError, destination_problem
from lunglens.inference.session import ModelError

BAD_INPUT = 2
"""Exit code for bad input (README: 2 bad input, the message names the file and the reason)."""
INPUT_ERRORS = (ValueError, OSError, ModelError, WriteError)
"""What reading a missing or invalid model, card or data file, or refusing an output, raises (card
loaders raise ValueError naming the file)."""


class BadInput(ValueError):
    """An input that cannot be used or an output that must not be written; the message names the file
    and the reason."""


def check_model_output(out: Path, inputs: Iterable[Path] = ()) -> None:
    """Raise BadInput unless the model `out` and its card `out.with_suffix(".json")` may be written:
    `out` ends in .onnx, and neither it nor the card is a device, pipe or folder, or one of `inputs`
    (the files being read; symbolic and hard links followed)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise BadInput(
            f"{out}: the model to write must be a .onnx file (its .json card is written beside it)"
        )
    for path in (out, out.with_suffix(".json")):
        check_output(path, inputs)


def check_output(path: Path, inputs: Iterable[Path] = ()) -> None:
    """Raise BadInput unless `path` may be written: not a device, pipe or folder, nor one of
    `inputs` (the files being read; symbolic and hard links followed)."""
    inputs = [Path(p) for p in inputs]
    problem = destination_problem(path, read_only_files=inputs)
    if problem is None and any(_same_file(path, p) for p in inputs):
        problem = "is one of the files being read: the scripts never write over their inputs"
    if problem:
        raise BadInput(f"{path}: {problem}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def fail(exc: BaseException) -> int:
    """Print `exc` as one line on stderr (an OSError as 'FILE: reason'); returns BAD_INPUT."""
    if isinstance(exc, OSError) and exc.filename is not None:
        message = f"{exc.filename}: {exc.strerror or exc}"
    else:
        message = str(exc)
    print(f"error: {message}", file=sys.stderr)
    return BAD_INPUT
