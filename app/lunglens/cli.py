"""The command line: `lunglens info FOLDER [--select]` and the other subcommands.

Exit codes: 0 success, 2 bad input (a folder or file that cannot be used; the message says
which and why), 1 an internal failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lunglens import __version__
from lunglens.atomic import WriteError, write_atomically
from lunglens.core.selector import SelectorParams, select_slices
from lunglens.inference.session import PROVIDER_CHOICES
from lunglens.io import FolderError, LoadError, discover, load
from lunglens.lesions_cli import add_parser as add_lesions_parser
from lunglens.synthetic.demo import add_demo_data_parser

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


class _ProgressBar:
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


def _choose_series(found, choice: str | None):
    """The series to analyse: by UID (or key), by 1-based index, or the only analysable one."""
    if choice:
        if choice.isdigit() and 1 <= int(choice) <= len(found.series):
            ref = found.series[int(choice) - 1]
        else:
            matches = [r for r in found.series if r.key == choice or r.key.split("#")[0] == choice]
            if not matches:
                raise BadInput(f"{found.folder}: no series {choice!r} (lunglens info lists them)")
            ref = matches[0]
        if not ref.analysable:
            raise BadInput(f"{ref.description or ref.key}: cannot be analysed: {'; '.join(ref.problems)}")
        return ref
    candidates = found.analysable
    if not candidates:
        reasons = "; ".join(f"{r.description or r.key}: {', '.join(r.problems)}" for r in found.series[:3])
        raise BadInput(f"{found.folder}: no series can be analysed ({reasons})")
    if len(candidates) > 1:
        listed = ", ".join(f"[{found.series.index(r) + 1}] {r.description}" for r in candidates)
        raise BadInput(
            f"{found.folder}: {len(candidates)} series can be analysed ({listed}); choose one with --series"
        )
    return candidates[0]


def cmd_analyze(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from lunglens.core.analysis import AnalysisOptions, analyze
    from lunglens.core.decision import DecisionParams
    from lunglens.inference import ModelError, load_model

    try:
        decision = DecisionParams(slice_cutoff=args.slice_cutoff, patient_fraction=args.fraction)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    folder = _demo_folder(args) if args.demo else Path(args.path)
    try:
        found = discover(folder)
    except FolderError as exc:
        raise BadInput(str(exc)) from exc
    if found.problem():
        raise BadInput(found.problem())
    ref = _choose_series(found, args.series)
    try:
        model = load_model(Path(args.model) if args.model else None, provider=args.provider)
    except ModelError as exc:
        raise BadInput(str(exc)) from exc

    start = time.perf_counter()
    try:
        series = load(ref, progress=_ProgressBar("loading   "))
    except LoadError as exc:
        raise BadInput(str(exc)) from exc
    load_seconds = time.perf_counter() - start
    options = AnalysisOptions(decision=decision, all_slices=args.all_slices)
    result = analyze(series, model, options, progress=_ProgressBar("analysing "), load_seconds=load_seconds)
    total = time.perf_counter() - start

    d = result.decision
    print(f"series:   {ref.description or ref.key} ({series.n_slices} slices) in {ref.folder}")
    print(
        f"selector: kept {d.n_kept} of {series.n_slices} slices (threshold {result.selector_threshold:.0f} dark pixels)"
    )
    print(
        f"slices:   {d.k_positive} of {d.n_kept} kept slices positive (P(COVID) >= {decision.slice_cutoff:g})"
    )
    print(f"verdict:  {d.summary()}")
    print(f"model:    {model.card.name} {model.card.version} on {model.provider.describe()}")
    print(
        f"time:     {total:.1f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items()) + ")"
    )
    if args.json:
        try:
            write_atomically(Path(args.json), result.to_json().encode("utf-8"))
        except WriteError as exc:
            raise BadInput(str(exc)) from exc
        print(f"json:     {args.json}")
    if args.report:
        from lunglens.report import write_report

        try:
            write_report(result, series, Path(args.report), anonymise=args.anonymise)
        except WriteError as exc:
            raise BadInput(str(exc)) from exc
        print(f"report:   {args.report}")
    return EXIT_OK


def _demo_folder(args):
    """A synthetic COVID-19 demo patient in a temporary folder (removed at exit)."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from lunglens.synthetic.demo import make_demo_patient

    folder = Path(tempfile.mkdtemp(prefix="lunglens-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_demo_patient(folder, covid=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lunglens", description="LungLens: chest CT COVID-19 reading aid.")
    parser.add_argument("--version", action="version", version=f"lunglens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="list the series in a folder")
    info.add_argument("folder", help="patient folder (DICOM or COVID-CTset TIFF)")
    info.add_argument("--select", action="store_true", help="also run the lung-open selector per series")
    info.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")
    info.set_defaults(handler=cmd_info)

    add_demo_data_parser(commands)
    add_lesions_parser(commands)

    analyze = commands.add_parser("analyze", help="select, classify and decide for one series")
    analyze.add_argument("path", nargs="?", help="patient folder (omit with --demo)")
    analyze.add_argument("--demo", action="store_true", help="analyse a synthetic COVID-19 demo patient")
    analyze.add_argument("--series", help="series UID or index (as `lunglens info` numbers them)")
    analyze.add_argument("--model", help="model .onnx or .json card (default: the bundled demo model)")
    analyze.add_argument("--fraction", type=float, default=0.1, help="patient fraction f: COVID when k > f n")
    analyze.add_argument(
        "--slice-cutoff", type=float, default=0.5, help="P(COVID) at which a slice is positive"
    )
    analyze.add_argument("--all-slices", action="store_true", help="classify discarded slices too")
    analyze.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")
    analyze.add_argument("--json", help="write the analysis as JSON here")
    analyze.add_argument("--report", help="write the PDF report here")
    analyze.add_argument(
        "--anonymise", action="store_true", help="leave patient identifiers out of the report"
    )
    analyze.set_defaults(handler=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "analyze" and not args.demo and not args.path:
        parser.error("analyze needs a PATH or --demo")
    try:
        return args.handler(args)
    except BadInput as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lunglens: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
