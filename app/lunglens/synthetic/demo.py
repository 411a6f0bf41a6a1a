"""The demo patient: a synthetic chest CT written as DICOM or COVID-CTset TIFF, and the
`lunglens demo-data` subcommand that makes one."""

from __future__ import annotations

import argparse
from pathlib import Path

from lunglens.synthetic.phantom import make_phantom
from lunglens.synthetic.writers import write_dicom_series, write_tiff_series

DEMO_COVID_SEVERITY = 0.6
"""Lesion severity of the COVID demo patient (0 none .. 1 extensive)."""
DEMO_SLICES = 150
FORMATS = ("dicom", "tiff")


def make_demo_patient(
    out_folder: Path,
    covid: bool = True,
    n_slices: int = DEMO_SLICES,
    seed: int = 0,
    fmt: str = "dicom",
) -> Path:
    """Write a synthetic patient into `out_folder` (created; must be new or empty) and return
    the folder holding the series: `out_folder` itself for DICOM, `out_folder/SR_2` for TIFF.
    Deterministic: the same arguments give the same files."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if not 35 <= n_slices <= 600:
        raise ValueError(f"slices must be between 35 and 600, got {n_slices}")
    out_folder = Path(out_folder)
    phantom = make_phantom(n_slices=n_slices, seed=seed, covid_severity=DEMO_COVID_SEVERITY if covid else 0.0)
    if fmt == "tiff":
        return write_tiff_series(phantom.hu, out_folder)[0].parent
    kind = "COVID-19 pattern" if covid else "normal"
    write_dicom_series(
        phantom.hu,
        phantom.positions_mm,
        phantom.pixel_spacing_mm,
        phantom.slice_thickness_mm,
        out_folder,
        patient_id=f"SYNTH-{'COVID' if covid else 'NORMAL'}-{seed}",
        series_description=f"Synthetic chest CT ({kind}, seed {seed})",
        seed=seed * 2 + int(covid),
    )
    return out_folder


def cmd_demo_data(args: argparse.Namespace) -> int:
    """Handler of `lunglens demo-data`: returns the process exit status."""
    try:
        folder = make_demo_patient(
            Path(args.out), covid=args.covid, n_slices=args.slices, seed=args.seed, fmt=args.format
        )
    except (FileExistsError, ValueError) as error:
        print(f"demo-data: {error}")
        return 2
    kind = "COVID-19" if args.covid else "normal"
    print(f"wrote a synthetic {kind} patient ({args.slices} slices, {args.format}) to {folder}")
    return 0


def add_demo_data_parser(subparsers) -> argparse.ArgumentParser:
    """Register `demo-data OUT [--covid|--normal] [--slices N] [--seed S] [--format dicom|tiff]`
    on an argparse subparsers object; the handler is set as `handler` (returns an exit code)."""
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
    parser.set_defaults(handler=cmd_demo_data)
    return parser
