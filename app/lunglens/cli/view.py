"""`lunglens [view] [PATH] [--demo] [--model PATH] [--provider ...] [--lesion-method M] [--self-test]
[--analyse] [--slice N] [--screenshot OUT.png]`: the viewer.
`lunglens` without a subcommand runs this one; Qt is imported only when it runs."""

from __future__ import annotations

import argparse

from lunglens.cli.common import add_lesion_method_option
from lunglens.inference.session import PROVIDER_CHOICES

NAME = "view"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        NAME, help="open the viewer (the default: `lunglens PATH` is `lunglens view PATH`)"
    )
    parser.add_argument("path", nargs="?", help="patient folder to open")
    parser.add_argument("--demo", action="store_true", help="open a synthetic COVID-19 demo patient")
    parser.add_argument("--model", help="model .json card or .onnx file (default: the bundled demo model)")
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")
    add_lesion_method_option(parser)  # as if chosen in Analysis ▸ Lesion method (remembered)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the demo patient, analyse it and exit (0 on success): a check of an installation",
    )
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="open PATH, (with --analyse) analyse it, go to --slice, save the whole window as a PNG and "
        "exit (works without a display: QT_QPA_PLATFORM=offscreen)",
    )
    parser.add_argument("--analyse", action="store_true", help="with --screenshot: run the analysis first")
    parser.add_argument(
        "--slice",
        type=int,
        metavar="N",
        help="with --screenshot: show slice N (1-based, as the viewer numbers them)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lunglens.ui.app import run as run_viewer

    return run_viewer(args)
