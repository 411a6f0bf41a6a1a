"""`lunglens info FOLDER [--select] [--skipped]`: the series in a folder, whether each can be
analysed, and optionally what the lung-open selector keeps."""

from __future__ import annotations

import argparse

from lunglens.cli.common import EXIT_OK, BadInput, spans
from lunglens.core.selector import select_slices
from lunglens.io import FolderError, LoadError, discover, load
from lunglens.io.files import printable


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="list the series in a folder")
    parser.add_argument("folder", help="patient folder (DICOM or COVID-CTset TIFF)")
    parser.add_argument("--select", action="store_true", help="also run the lung-open selector per series")
    parser.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        found = discover(args.folder)
    except FolderError as exc:
        raise BadInput(str(exc)) from exc
    if found.problem():
        raise BadInput(found.problem())
    for number, ref in enumerate(found.series, 1):
        state = "analysable" if ref.analysable else "NOT analysable: " + "; ".join(ref.problems)
        print(printable(f"[{number}] {ref.summary()} — {state}"))
        print(printable(f"     {ref.frames[0][0] if ref.n_slices == 1 else ref.folder}"))
        for warning in ref.warnings:
            print(printable(f"     warning: {warning}"))
        if args.select and ref.analysable:
            _print_selection(ref)
    if args.skipped and found.skipped:
        print(f"{found.skipped_count} skipped:")
        for item in found.skipped:
            print(printable(f"     {item.path}: {item.reason}"))
    elif found.skipped:
        print(f"{found.skipped_count} skipped (--skipped lists them)")
    return EXIT_OK


def _print_selection(ref) -> None:
    try:
        series = load(ref)
    except LoadError as exc:
        print(printable(f"     cannot load: {exc}"))
        return
    selection = select_slices(series.standard_hu)
    kept = selection.kept_indices
    print(
        f"     selector: kept {selection.n_kept} of {series.n_slices} slices "
        f"(threshold {selection.threshold:.0f} dark pixels; counts {selection.dark_pixel_counts.min()}"
        f"-{selection.dark_pixel_counts.max()})"
    )
    print(f"     kept slices: {spans(kept.tolist())}")
    if kept.size:
        top, bottom = series.positions_mm[kept[0]], series.positions_mm[kept[-1]]
        print(f"     lung-open span: {top:.1f} mm to {bottom:.1f} mm")
