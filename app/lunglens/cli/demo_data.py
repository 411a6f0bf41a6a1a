"""`lunglens demo-data OUT [--covid|--normal] [--slices N] [--seed S] [--format dicom|tiff]`: write
a synthetic demo patient (no patient data) into a new or empty folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from lunglens.cli.common import EXIT_OK, BadInput
from lunglens.synthetic.demo import DEMO_SLICES, FORMATS, make_demo_patient


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write a synthetic demo patient (no patient data) as DICOM or TIFF",
        description="Write a synthetic chest CT patient into a new or empty folder.",
    )
    parser.add_argument("out", help="output folder (created; must be new or empty)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--covid", dest="covid", action="store_true", default=True, help="COVID-19 patterns (default)"
    )
    kind.add_argument("--normal", dest="covid", action="store_false", help="a normal patient, no lesions")
    parser.add_argument(
        "--slices", type=int, default=DEMO_SLICES, help=f"slice count, 35-600 (default {DEMO_SLICES})"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--format", choices=FORMATS, default="dicom", help="dicom (default) or tiff (COVID-CTset)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        folder = make_demo_patient(
            Path(args.out), covid=args.covid, n_slices=args.slices, seed=args.seed, fmt=args.format
        )
    except (OSError, ValueError) as error:  # refused or unwritable folders, bad sizes
        raise BadInput(f"demo-data: {error}") from error
    kind = "COVID-19" if args.covid else "normal"
    print(f"wrote a synthetic {kind} patient ({args.slices} slices, {args.format}) to {folder}")
    return EXIT_OK
