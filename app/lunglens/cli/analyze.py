"""`lunglens analyze PATH|--demo [...]`: select, classify and decide for one series, print the
verdict, and optionally write the analysis as JSON and the PDF report."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from lunglens.atomic import (
    WriteError,
    destination_problem,
    folder_destination_problem,
    real_path,
    same_file,
    write_atomically,
)
from lunglens.cli import pacs as pacs_command
from lunglens.cli.common import (
    EXIT_OK,
    BadInput,
    ProgressBar,
    add_lesion_method_option,
    add_model_options,
    chosen_lesion_method,
)
from lunglens.core.decision import DecisionParams
from lunglens.io import FolderError, LoadError, discover
from lunglens.io.files import printable
from lunglens.quant.summary import table_lines


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("analyze", help="select, classify and decide for one series")
    parser.add_argument("path", nargs="?", help="patient folder (omit with --demo)")
    parser.add_argument("--demo", action="store_true", help="analyse a synthetic COVID-19 demo patient")
    parser.add_argument(
        "--series",
        help="series UID or index (as `lunglens info` numbers them); with --dicomweb, a Series Instance "
        "UID (UID#1, UID#2: its first, second part, when the analysis splits one UID into several series), or N: the "
        "Nth CT series of the study (other series not counted), as `lunglens pacs series` numbers them; "
        "needed when the study lists several CT series of 3 images or more (refused, listing them, before any "
        "is retrieved)",
    )
    add_model_options(parser)
    parser.add_argument("--all-slices", action="store_true", help="classify discarded slices too")
    parser.add_argument(
        "--no-quantify", action="store_true", help="skip the quantification (lungs, zones, lesion burden)"
    )
    add_lesion_method_option(parser)
    parser.add_argument("--json", help="write the analysis as JSON here")
    parser.add_argument("--report", help="write the PDF report here")
    parser.add_argument(
        "--anonymise", action="store_true", help="leave patient identifiers out of the report"
    )
    pacs_command.add_analyze_options(parser)
    parser.set_defaults(handler=run)


def choose_series(found, choice: str | None, by_uid: bool = False, listed_by: str = "lunglens info"):
    """The series to analyse: by 1-based index (not `by_uid`), by key (`UID#2`: one part of a
    UID discovery split; `UID#1` its first part, whose key is the bare UID), or among the parts
    of a UID (or, without a choice, among every series) the only analysable one; several are
    listed (by key when `by_uid`: a PACS series' index is another) for --series to choose from.
    `listed_by`: the command that lists the series, for a choice that names none."""
    if choice and not by_uid and choice.isdigit() and 1 <= int(choice) <= len(found.series):
        parts = [found.series[int(choice) - 1]]
    elif choice:
        parts = [r for r in found.series if r.key.split("#")[0] == choice] or [
            r for r in found.series if r.key == choice.removesuffix("#1")
        ]
        if not parts:
            raise BadInput(f"{found.folder}: no series {choice!r} ({listed_by} lists them)")
    else:
        parts = found.series
    if len(parts) == 1 and not parts[0].analysable:
        raise BadInput(f"{parts[0].name}: cannot be analysed: {'; '.join(parts[0].problems)}")
    candidates = [r for r in parts if r.analysable]
    if not candidates:
        reasons = "; ".join(f"{r.name}: {', '.join(r.problems)}" for r in parts[:3])
        raise BadInput(f"{found.folder}: no series can be analysed ({reasons})")
    if len(candidates) > 1:
        listed = ", ".join(
            f"{_part_key(found, r) if by_uid else f'[{found.series.index(r) + 1}]'} {r.name}"
            for r in candidates
        )
        raise BadInput(
            f"{found.folder}: {len(candidates)} series can be analysed ({listed}); choose one with --series"
        )
    return candidates[0]


def _part_key(found, ref) -> str:
    """What --series takes for `ref`: its key, `UID#1` for the first part of a UID discovery
    split (whose key is the bare UID, which names every part)."""
    split = "#" not in ref.key and any(r.key.startswith(f"{ref.key}#") for r in found.series)
    return f"{ref.key}#1" if split else ref.key


def demo_folder() -> Path:
    """A synthetic COVID-19 demo patient in a temporary folder (removed at exit)."""
    import atexit
    import shutil
    import tempfile

    from lunglens.synthetic.demo import make_demo_patient

    folder = Path(tempfile.mkdtemp(prefix="lunglens-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_demo_patient(folder, covid=True)


def run(args: argparse.Namespace) -> int:
    from lunglens.analysis import AnalysisOptions, load_and_analyse, readout, shared_lesion_methods
    from lunglens.analysis.lesion_methods import LEARNED
    from lunglens.inference import ModelError, load_model

    if not args.demo and not args.path and not args.dicomweb:
        raise BadInput("analyze needs a PATH, --demo or --dicomweb URL --study UID")
    try:
        decision = DecisionParams(slice_cutoff=args.slice_cutoff, patient_fraction=args.fraction)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    problem = pacs_command.check_analyze_options(args)
    if problem:
        raise BadInput(problem)
    folder, remote = demo_folder() if args.demo else Path(args.path or "."), None
    if args.dicomweb:
        remote = _pacs_call(pacs_command.retrieve_for_analysis, args, ProgressBar("retrieving"))
        folder = remote.folder
    try:
        found, ref = _choose(args, folder, remote)
    except BadInput as exc:  # a retrieved series is named by its address, not the temporary folder
        raise BadInput(_as_on_server(str(exc), remote, args)) from exc
    for text in found.unread_folders_text():  # perhaps the series the reader was after
        print(printable(f"note:     elsewhere in the folder, {text}"))
    try:
        model = load_model(Path(args.model) if args.model else None, provider=args.provider)
    except ModelError as exc:
        raise BadInput(str(exc)) from exc

    lesion_method, named = chosen_lesion_method(args)
    lesion_methods = shared_lesion_methods(provider=args.provider)
    if named and lesion_method == LEARNED and not args.no_quantify:  # asked for by name: no fallback
        try:
            lesion_methods.learned()
        except ModelError as exc:
            raise BadInput(str(exc)) from exc

    options = AnalysisOptions(
        decision=decision,
        all_slices=args.all_slices,
        quantify=not args.no_quantify,
        lesion_method=lesion_method,
    )
    try:
        series, result = load_and_analyse(
            ref,
            model,
            options,
            load_progress=ProgressBar("loading   "),
            progress=ProgressBar("analysing "),
            lesion_methods=lesion_methods,
        )
    except (LoadError, ModelError) as exc:
        raise BadInput(str(exc)) from exc
    if args.dicomweb:  # where the series is, not the temporary folder it was retrieved into (as a batch)
        from lunglens.pacs import SeriesAddress

        address = SeriesAddress(args.dicomweb, args.study, result.series.series_uid)
        result = replace(result, series=replace(result.series, folder=address.text))
    if args.anonymise:  # every output below reads the anonymised record
        from lunglens.report.identity import anonymised

        result = anonymised(result, series, extra_paths=_all_files(found))

    d = result.decision
    record = result.series
    # anonymised, the record's key is the pseudonym; else the series' name (never its UID)
    name, where = (record.key, "anonymised") if args.anonymise else (series.ref.name, f"in {record.folder}")
    print(printable(f"series:   {name} ({series.n_slices} slices) {where}"))
    print(
        f"selector: kept {d.n_kept} of {series.n_slices} slices "
        f"(threshold {result.selection.threshold:.0f} dark pixels)"
    )
    print(f"slices:   positive when {d.params.slice_rule(ascii_only=True)}")
    print(f"verdict:  {d.summary()}")
    print(f"caveat:   {result.verdict_caveat()}")
    print(f"model:    {model.card.name} {model.card.version} on {model.provider.describe()}")
    print(f"time:     {readout.timings_text(result)}")
    for warning in record.warnings:
        print(printable(f"warning:  {warning}"))
    if result.quantification is not None:
        print("\n".join(table_lines(result.quantification)))
    if args.json:
        try:
            write_atomically(Path(args.json), result.to_json().encode("utf-8"), read_only_folders=[folder])
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
    if args.dicom_out or args.store:
        try:
            _pacs_call(pacs_command.write_and_store_results, args, result, series)
        except BadInput as exc:
            raise BadInput(_as_on_server(str(exc), remote, args)) from exc
    return EXIT_OK


def _choose(args: argparse.Namespace, folder: Path, remote):
    """(the discovery of `folder`, the series chosen in it), once checked that every output
    asked for can be made (`_check_destinations`, `_check_results_possible`) and, for a study
    from a PACS (`remote`, `pacs_command.RemoteStudy`), that --store would not store results it
    already holds (`pacs_command.earlier_results_problem`). Raises BadInput."""
    try:
        found = discover(folder, origin=remote.origin if remote else None)
    except FolderError as exc:
        raise BadInput(str(exc)) from exc
    _check_destinations(args, folder, _all_files(found))
    if found.problem():
        raise BadInput(found.problem())
    if remote is None:
        ref = choose_series(found, args.series)
    else:
        key = args.series if args.series and "#" in args.series else None  # one part of a split UID
        lister = f"lunglens pacs series {args.dicomweb} --study {args.study}"
        ref = choose_series(found, key or remote.series_uid, by_uid=True, listed_by=lister)
    _check_results_possible(args, ref)
    if remote is not None:
        instance_uids = frozenset(remote.origin(path)[0] for path, _ in ref.frames)
        problem = _pacs_call(
            pacs_command.earlier_results_problem, args, remote.listing, ref.key.split("#")[0], instance_uids
        )
        if problem:
            raise BadInput(problem)
    return found, ref


def _as_on_server(text: str, remote, args: argparse.Namespace) -> str:
    """`text` with the temporary folder of a study retrieved from a PACS (`remote`) replaced by
    where it is on the server: each series' folder by the series' address, the folder by the study's."""
    if remote is None:
        return text
    from lunglens.pacs import SeriesAddress

    for series in remote.listing:
        address = SeriesAddress(args.dicomweb, args.study, series.series_uid)
        text = text.replace(str(remote.folder / series.series_uid), address.text)
    return text.replace(str(remote.folder), f"{args.dicomweb.rstrip('/')}/studies/{args.study}")


def _check_destinations(args: argparse.Namespace, folder: Path, inputs: list[Path]) -> None:
    """Refuse, before anything runs or is written, an output the OS refuses (`lunglens.atomic`),
    inside the folder being read or over one of its files (`--json`, `--report`), a `--dicom-out`
    folder inside it, and two outputs that are one file (`--json` and `--report`, or one of them
    and a `--dicom-out` result): the later would replace the earlier."""
    files = [(option, value) for option, value in (("--json", args.json), ("--report", args.report)) if value]
    for _, destination in files:
        problem = destination_problem(Path(destination), [folder], inputs)
        if problem:
            raise BadInput(f"{destination}: {problem}")
    problem = args.dicom_out and folder_destination_problem(Path(args.dicom_out), [folder])
    if problem:
        raise BadInput(f"{args.dicom_out}: {problem}")
    if len(files) == 2 and same_file(Path(args.json), Path(args.report)):
        raise BadInput(
            f"--json {args.json} and --report {args.report}: the two outputs are one file "
            "(the report would replace the JSON); give each its own"
        )
    if not args.dicom_out:
        return
    from lunglens.dicomout.write import RESULT_NAMES

    for option, destination in files:
        path = real_path(Path(destination))
        if path.parent == real_path(Path(args.dicom_out)) and path.match(RESULT_NAMES):
            raise BadInput(
                f"{option} {destination}: is one of the files --dicom-out {args.dicom_out} writes "
                f"({RESULT_NAMES}); give it another name"
            )


def _check_results_possible(args: argparse.Namespace, ref) -> None:
    """Refuse, before anything runs or is written, DICOM results (`--dicom-out`, `--store`) that
    the series `ref` cannot have (`lunglens.dicomout.dicom_results_problem`; a SEG unless
    `--no-quantify`), and anonymised images (`--report`, `--dicom-out` with `--anonymise`) of a
    series whose pixels name the patient."""
    if args.anonymise and (args.report or args.dicom_out):
        from lunglens.report.identity import pixel_identity_problem

        problem = pixel_identity_problem(ref)
        if problem:
            raise BadInput(problem)
    if args.dicom_out or args.store:
        from lunglens.dicomout import dicom_results_problem

        problem = dicom_results_problem(
            ref,
            segmentation=not args.no_quantify,
            anonymise=args.anonymise,
            outputs="store" if args.store else "folder",
        )
        if problem:
            raise BadInput(problem)


def _pacs_call(function, *args):
    """Run a DICOM output or PACS step; its named failures become BadInput."""
    from lunglens.dicomout import DicomOutError
    from lunglens.pacs import PacsError

    try:
        return function(*args)
    except (DicomOutError, PacsError, WriteError) as exc:
        raise BadInput(str(exc)) from exc


def _all_files(found) -> list[Path]:
    """Every file discovery saw: the series' and the skipped ones (names to withhold)."""
    return [s.path for s in found.skipped] + [p for ref in found.series for p, _ in ref.frames]
