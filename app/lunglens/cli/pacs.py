"""The command line's PACS parts: `lunglens pacs find URL ...` and `lunglens pacs series URL
--study UID` (its own subcommands), the options `lunglens analyze --dicomweb URL --study UID
[--series UID|N] [--store [--store-again]]` uses (retrieve the CT series into a temporary folder
before the analysis, store the DICOM results after it), and the connection options `lunglens
batch --dicomweb URL` shares with them.

Passwords and tokens are never options: LUNGLENS_DICOMWEB_PASSWORD (with --dicomweb-user) or
LUNGLENS_DICOMWEB_TOKEN."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lunglens.cli.common import EXIT_BAD_INPUT, EXIT_OK

AUTH_HELP = (
    "user for HTTP basic authentication; the password is read from the environment variable "
    "LUNGLENS_DICOMWEB_PASSWORD (never from the command line). Without a user, a bearer token "
    "in LUNGLENS_DICOMWEB_TOKEN is sent when set"
)


#: What a UID given on the command line must be (PS3.5 9.1, leading zeros let through as
#: dicomweb-client does): digits in components separated by dots, at most 64 characters.
UID_WORDS = "not a DICOM UID (digits and dots, at most 64 characters)"


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def is_uid(text: str) -> bool:
    """Whether `text` is a UID as UID_WORDS says."""
    return len(text) <= 64 and re.fullmatch(r"[0-9]+(\.[0-9]+)*", text) is not None


def uid(text: str) -> str:
    """argparse type: a DICOM UID, blanks around it (a common paste) removed."""
    if not is_uid(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r}: {UID_WORDS}")
    return text.strip()


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dicomweb-user", metavar="NAME", help=AUTH_HELP)
    parser.add_argument(
        "--dicomweb-ca", metavar="FILE", help="CA bundle to verify the server's TLS certificate with"
    )
    parser.add_argument(
        "--dicomweb-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="seconds to wait for an answer, whole (a long one, e.g. a series, gets as much again per MiB it brings)",
    )


def add_query_options(parser, modality_help: str) -> None:
    """The QIDO-RS study filters (`lunglens.pacs.find_studies`): --patient, --date, --modality."""
    parser.add_argument("--patient", help="Patient ID (wildcards * and ? allowed)")
    parser.add_argument("--date", help="study date or range, e.g. 20200301-20200331")
    parser.add_argument("--modality", help=modality_help)


def connection_from_args(args: argparse.Namespace, url: str):
    from lunglens.pacs.connection import Connection

    ca_file = str(Path(args.dicomweb_ca).resolve()) if args.dicomweb_ca else None  # batch workers: any cwd
    return Connection(url=url, user=args.dicomweb_user, ca_file=ca_file, read_timeout_s=args.dicomweb_timeout)


def cmd_find(args: argparse.Namespace) -> int:
    from lunglens.pacs import PacsError, find_studies

    try:
        studies = find_studies(
            connection_from_args(args, args.url), patient=args.patient, date=args.date, modality=args.modality
        )
    except PacsError as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for study in studies:
        print(study.line())
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found")
    if studies.caveat:
        print(f"lunglens: warning: {studies.caveat}", file=sys.stderr)
    return EXIT_OK


def cmd_series(args: argparse.Namespace) -> int:
    from lunglens.pacs import PacsError, ct_series, find_series

    connection = connection_from_args(args, args.url)
    try:
        listing = find_series(connection, args.study)
    except PacsError as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not listing:  # a server answers a study it does not hold with no series
        print(f"lunglens: {connection.where}: study {args.study} not found (no series)", file=sys.stderr)
        return EXIT_BAD_INPUT
    index = {s.series_uid: i for i, s in enumerate(ct_series(listing), start=1)}
    for series in listing:
        print(series.line(index.get(series.series_uid)))
    print(f"{len(listing)} series, {len(index)} CT ([N]: analyze --dicomweb ... --series N)")
    if listing.caveat:
        print(f"lunglens: warning: {listing.caveat}", file=sys.stderr)
    return EXIT_OK


def add_parser(subparsers) -> None:
    """Register `lunglens pacs find` and `lunglens pacs series`."""
    pacs = subparsers.add_parser("pacs", help="PACS over DICOMweb: list studies and their series")
    commands = pacs.add_subparsers(dest="pacs_command", required=True)
    find = commands.add_parser("find", help="list the studies on a DICOMweb server (QIDO-RS)")
    find.add_argument("url", help="DICOMweb root, e.g. https://pacs.example.org/dicom-web")
    add_query_options(find, "modality in the study, e.g. CT")
    add_connection_options(find)
    find.set_defaults(handler=cmd_find)
    series = commands.add_parser(
        "series",
        help="list the series of a study (QIDO-RS): index among the CT series, modality, series number, "
        "description, instances and Series Instance UID",
    )
    series.add_argument("url", help="DICOMweb root, e.g. https://pacs.example.org/dicom-web")
    series.add_argument("--study", metavar="UID", type=uid, required=True, help="Study Instance UID")
    add_connection_options(series)
    series.set_defaults(handler=cmd_series)


def add_analyze_options(parser: argparse.ArgumentParser) -> None:
    """`analyze`'s DICOMweb and DICOM-output options."""
    parser.add_argument(
        "--dicom-out", metavar="DIR", help="write the DICOM results (SR, SEG, key images, PDF) here"
    )
    parser.add_argument("--dicomweb", metavar="URL", help="analyse a study from this DICOMweb server")
    parser.add_argument(
        "--study", metavar="UID", type=uid, help="Study Instance UID to retrieve (with --dicomweb)"
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help="send the DICOM results back to the server (STOW-RS); refused when the study already "
        "holds LungLens results for the series, unless --store-again (before the series is retrieved, "
        "but for an earlier PDF alone, known only from the retrieved instances it cites)",
    )
    parser.add_argument(
        "--store-again",
        action="store_true",
        help="with --store: store even when the study already holds LungLens results for the series "
        "(the PACS then keeps both sets, with the same series numbers, unlinked)",
    )
    add_connection_options(parser)


def check_analyze_options(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of options, or None. With --dicomweb, --series is a
    series index, a UID or a part of one (UID#2) (blanks around it removed)."""
    if args.dicomweb and not args.study:
        return "--dicomweb needs --study STUDY_UID"
    if (args.study or args.store) and not args.dicomweb:
        return "--study and --store need --dicomweb URL"
    if args.store_again and not args.store:
        return "--store-again goes with --store"
    if args.dicomweb and (args.path or args.demo):
        return "give a folder, --demo or --dicomweb, not several"
    if args.dicomweb and args.series:
        uid_part, sign, part = args.series.strip().partition("#")  # UID#2: one part of a split UID
        if not is_uid(uid_part) or (sign and not (part.isdigit() and "." in uid_part)):
            return f"--series {args.series!r}: not a series index and {UID_WORDS}, nor a part of one (UID#N)"
        args.series = args.series.strip()
    if args.store and args.anonymise:
        return (
            "--store with --anonymise: anonymised results cannot join the study in the PACS (they "
            "form a study of their own); store identified results, or write anonymised ones with --dicom-out"
        )
    return None


@dataclass(frozen=True)
class RemoteStudy:
    """The series `analyze --dicomweb` retrieved: the temporary folder holding them, the
    study's series listing (`lunglens.pacs.find_series`), the Series Instance UID chosen (None
    when several CT series were retrieved: the analysable one is chosen from the files), and how
    the server names the files (`lunglens.pacs.Retrieved.origin`)."""

    folder: Path
    listing: list
    series_uid: str | None
    origin: Callable[[Path], tuple[str, str]]


def chosen_series(listing, study_uid: str, choice: str | None, where: str) -> list:
    """The series of `listing` (`find_series`) to retrieve for `--series choice`: the one with
    that Series Instance UID, the Nth CT series (`ct_series`), or, without a choice, the only CT
    series (never LungLens' or other results). Raises PacsError naming what the study holds,
    listing its CT series as `lunglens pacs series` does when there are several and no choice
    (decided from the listing, before anything is retrieved). A CT series of fewer instances than
    an analysable series has (`MIN_SLICES`: a scout) does not count among several: the files then
    decide, as in a folder."""
    from lunglens.io.discover import MIN_SLICES
    from lunglens.pacs import PacsError, ct_series

    candidates = ct_series(listing)
    hint = f"(lunglens pacs series {where} --study {study_uid} lists them)"
    if choice and "." not in choice:  # an index: UIDs have dots
        if not 1 <= int(choice) <= len(candidates):
            raise PacsError(
                f"{where}: --series {choice}: study {study_uid} holds {len(candidates)} CT series, "
                f"numbered 1 to {len(candidates)} {hint}"
            )
        return [candidates[int(choice) - 1]]
    if choice:
        choice = choice.split("#")[0]  # UID#2: the series is retrieved whole, its part chosen after
        matches = [s for s in listing if s.series_uid == choice]
        if not matches:
            raise PacsError(f"{where}: study {study_uid} holds no series {choice} {hint}")
        return matches
    if not candidates:
        modalities = ", ".join(sorted({s.modality or "?" for s in listing})) or "no series"
        raise PacsError(f"{where}: study {study_uid} holds no CT series ({modalities}) {hint}")
    volumes = [s for s in candidates if s.n_instances is None or s.n_instances >= MIN_SLICES]
    if len(volumes) > 1:  # a scout beside one volume is left to the files, as a folder's is
        listed = "\n".join(s.line(i) for i, s in enumerate(candidates, start=1))
        raise PacsError(
            f"{where}: study {study_uid} holds {len(candidates)} CT series; choose one with --series "
            f"N or --series UID (nothing was retrieved):\n{listed}"
        )
    return candidates


def retrieve_for_analysis(args: argparse.Namespace, progress: Callable[[int, int], None]) -> RemoteStudy:
    """Retrieve the series of `args.study` chosen by `args.series` (`chosen_series`: the only CT
    series without it) into a temporary folder removed at exit. With --store (without
    --store-again), the earlier results that need no retrieved instance (all but the PDF,
    `earlier_results_problem`) refuse it before anything is retrieved. Raises PacsError (named)."""
    import atexit
    import shutil
    import tempfile

    from lunglens.pacs import PacsError, find_series, retrieve_study

    connection = connection_from_args(args, args.dicomweb)
    listing = find_series(connection, args.study)
    chosen = chosen_series(listing, args.study, args.series, connection.where)
    if args.store and not args.store_again and len(chosen) == 1:
        problem = earlier_results_problem(args, listing, chosen[0].series_uid, frozenset())
        if problem:
            raise PacsError(problem)
    folder = Path(tempfile.mkdtemp(prefix="lunglens-pacs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    retrieved = retrieve_study(
        connection, args.study, folder, series={s.series_uid for s in chosen}, progress=progress
    )
    received, expected = len(retrieved.files), retrieved.n_expected
    what = f"series {chosen[0].series_uid}" if len(chosen) == 1 else f"{len(chosen)} CT series"
    print(f"pacs:     {received} of {expected} instances retrieved ({what}) from {args.dicomweb}")
    return RemoteStudy(folder, listing, chosen[0].series_uid if len(chosen) == 1 else None, retrieved.origin)


def earlier_results_problem(
    args: argparse.Namespace, listing: list, series_uid: str, instance_uids: frozenset[str]
) -> str | None:
    """Say (printed) when study `args.study`, whose series are `listing` (`find_series`), already
    holds LungLens results for series `series_uid`, whose instances are `instance_uids` (none
    before they are retrieved: a PDF then goes unseen) (`lunglens.pacs.results_for_series`);
    returns why `--store` is refused then
    (without --store-again), None otherwise. When the check cannot be made (a result series'
    metadata unreadable, or none found in a listing that may be incomplete: its caveat), that
    refuses --store (without --store-again) and is a note otherwise."""
    from lunglens.pacs import PacsError, results_for_series

    connection = connection_from_args(args, args.dicomweb)
    try:
        earlier = results_for_series(connection, listing, series_uid, instance_uids)
        if not earlier and getattr(listing, "caveat", ""):
            raise PacsError(f"{listing.caveat}; the check could not see every series")
    except PacsError as exc:
        if args.store and not args.store_again:
            return (
                f"{exc}: cannot check whether study {args.study} already holds LungLens results for "
                f"series {series_uid}; give --store-again to store without the check"
            )
        print(f"note:     could not check for earlier LungLens results: {exc}")
        return None
    if not earlier:
        return None
    listed = ", ".join(f"{s.modality} #{s.series_number} {s.series_uid}" for s in earlier)
    print(f"note:     study {args.study} already holds LungLens results for this series ({listed})")
    if not args.store or args.store_again:
        return None
    return (
        f"{connection.where}: study {args.study} already holds LungLens results for series {series_uid} "
        f"({len(earlier)} series: {listed}); storing again adds a second set beside them, with the same "
        "series numbers and nothing linking them: look at them in the PACS, and give --store-again to "
        "store anyway"
    )


def write_and_store_results(args: argparse.Namespace, analysis, series) -> None:
    """--dicom-out: write the DICOM results; --store: send the same objects to the DICOMweb
    server. The PDF inside is the one --report wrote, when it did. Raises DicomOutError,
    WriteError or PacsError."""
    from lunglens.dicomout import build_dicom_results, save_results

    pdf_bytes = Path(args.report).read_bytes() if args.report else None
    results = build_dicom_results(
        analysis,
        series,
        anonymise=args.anonymise,
        pdf_bytes=pdf_bytes,
        outputs="store" if args.store else "folder",
    )
    if args.dicom_out:
        paths = save_results(results, series, Path(args.dicom_out))
        print(f"dicom:    {len(paths)} objects in {args.dicom_out} ({', '.join(p.name for p in paths)})")
    if args.store:  # never with --anonymise (check_analyze_options)
        from lunglens.pacs import store, stored_text

        connection = connection_from_args(args, args.dicomweb)
        stored = store(connection, [r.dataset for r in results])
        print(f"stored:   {stored_text(stored, results[0].dataset.StudyInstanceUID, connection)}")
