"""What the subcommands share: exit codes, the bad-input exception, a terminal progress bar, the
model, decision and lesion-method options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lunglens.analysis.lesion_methods import (
    DEFAULT_LESION_METHOD,
    LESION_METHOD_ALIASES,
    LESION_METHODS,
    lesion_method_name,
)
from lunglens.core.decision import DecisionParams
from lunglens.inference.session import PROVIDER_CHOICES

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Input the user must fix; printed without a traceback, exit code 2."""


def spans(indices: Sequence[int]) -> str:
    """'3-10, 12' style listing of 0-based indices shown 1-based."""
    runs, start, previous = [], None, None
    for i in indices:
        if start is None:
            start = previous = i
        elif i == previous + 1:
            previous = i
        else:
            runs.append((start, previous))
            start = previous = i
    if start is not None:
        runs.append((start, previous))
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs) or "none"


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal, else silent)."""

    def __init__(self, label: str):
        self.label = label
        self.active = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.active and total:
            filled = int(30 * done / total)
            print(
                f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}",
                end="",
                file=sys.stderr,
            )
            if done == total:
                print(file=sys.stderr)


def operating_point_value(field: str):
    """An argparse `type` for one field of `DecisionParams` ("patient_fraction", "slice_cutoff"):
    a number the decision takes, refusing (exit 2, the reason named) one at which the verdict no
    longer depends on the images (`DecisionParams.images_ignored`: f = 1, a cut-off of 0)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        try:
            params = DecisionParams(**{field: value})
        except ValueError as exc:  # outside [0, 1]
            raise argparse.ArgumentTypeError(str(exc)) from exc
        ignored = params.images_ignored()
        if ignored:
            raise argparse.ArgumentTypeError(f"{text} is refused: {ignored[0].lower()}{ignored[1:]}")
        return getattr(params, field)

    return parse


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --fraction, --slice-cutoff and --provider: what every analysing command takes,
    with the decision's defaults (`DecisionParams`); an operating point at which the verdict does
    not depend on the images is refused (`operating_point_value`)."""
    defaults = DecisionParams()
    parser.add_argument("--model", help="model .onnx or .json card (default: the bundled demo model)")
    parser.add_argument(
        "--fraction",
        type=operating_point_value("patient_fraction"),
        default=defaults.patient_fraction,
        help=f"patient fraction f of the decision rule, 0 <= f < 1 (default {defaults.patient_fraction:g})",
    )
    parser.add_argument(
        "--slice-cutoff",
        type=operating_point_value("slice_cutoff"),
        default=defaults.slice_cutoff,
        help=f"P(COVID) at which a slice is positive, above 0 and at most 1 (default {defaults.slice_cutoff:g})",
    )
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")


def add_lesion_method_option(parser: argparse.ArgumentParser) -> None:
    """--lesion-method: how the quantification finds lesions (`lunglens.analysis.lesion_methods`).
    `chosen_lesion_method(args)` reads it."""
    parser.add_argument(
        "--lesion-method",
        choices=(*LESION_METHODS, *LESION_METHOD_ALIASES),
        metavar="{" + ",".join(LESION_METHODS) + "}",
        default=None,
        help=f"how the quantification finds lesions (default {DEFAULT_LESION_METHOD}): learned = the lesion "
        "map of the bundled patch model (a demonstration model; slower), hu_bands = HU bands of Slicer's "
        f"Lung CT Analyzer (a threshold estimate; {', '.join(LESION_METHOD_ALIASES)} is accepted for it)",
    )


def chosen_lesion_method(args: argparse.Namespace) -> tuple[str, bool]:
    """(the canonical lesion method of a command, whether the user named it): the option's method,
    or `DEFAULT_LESION_METHOD` when the option was not given."""
    if args.lesion_method is None:
        return DEFAULT_LESION_METHOD, False
    return lesion_method_name(args.lesion_method), True
