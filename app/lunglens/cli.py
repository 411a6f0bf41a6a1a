"""The command line: `lunglens info FOLDER [--select]` and the other subcommands.

Exit codes: 0 success, 2 bad input (a folder or file that cannot be used; the message says
which and why), 1 an internal failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lunglens import __version__
from lunglens.core.selector import SelectorParams, select_slices
from lunglens.io import FolderError, LoadError, discover, load

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Input the user must fix; printed without a traceback, exit code 2."""


def _spans(indices: Sequence[int]) -> str:
    """'3-10, 12' style listing of 0-based indices shown 1-based."""
    spans, start, previous = [], None, None
    for i in indices:
        if start is None:
            start = previous = i
        elif i == previous + 1:
            previous = i
        else:
            spans.append((start, previous))
            start = previous = i
    if start is not None:
        spans.append((start, previous))
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in spans) or "none"


def cmd_info(args: argparse.Namespace) -> int:
    try:
        found = discover(args.folder)
    except FolderError as exc:
        raise BadInput(str(exc)) from exc
    if found.problem():
        raise BadInput(found.problem())
    for number, ref in enumerate(found.series, 1):
        state = "analysable" if ref.analysable else "NOT analysable: " + "; ".join(ref.problems)
        print(f"[{number}] {ref.summary()} — {state}")
        print(f"     {ref.frames[0][0] if ref.n_slices == 1 else ref.folder}")
        for warning in ref.warnings:
            print(f"     warning: {warning}")
        if args.select and ref.analysable:
            _print_selection(ref)
    if args.skipped and found.skipped:
        print(f"{len(found.skipped)} file(s) skipped:")
        for item in found.skipped:
            print(f"     {item.path}: {item.reason}")
    elif found.skipped:
        print(f"{len(found.skipped)} file(s) skipped (--skipped lists them)")
    return EXIT_OK


def _print_selection(ref) -> None:
    try:
        series = load(ref)
    except LoadError as exc:
        print(f"     cannot load: {exc}")
        return
    selection = select_slices(series.hu, SelectorParams())
    kept = selection.kept_indices
    print(
        f"     selector: kept {selection.n_kept} of {series.n_slices} slices "
        f"(threshold {selection.threshold:.0f} dark pixels; counts {selection.dark_pixel_counts.min()}"
        f"-{selection.dark_pixel_counts.max()})"
    )
    print(f"     kept slices: {_spans(kept.tolist())}")
    if kept.size:
        top, bottom = series.positions_mm[kept[0]], series.positions_mm[kept[-1]]
        print(f"     lung-open span: {top:.1f} mm to {bottom:.1f} mm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lunglens", description="LungLens: chest CT COVID-19 reading aid.")
    parser.add_argument("--version", action="version", version=f"lunglens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="list the series in a folder")
    info.add_argument("folder", help="patient folder (DICOM or COVID-CTset TIFF)")
    info.add_argument("--select", action="store_true", help="also run the lung-open selector per series")
    info.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")
    info.set_defaults(handler=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BadInput as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lunglens: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
