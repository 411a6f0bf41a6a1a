"""The command line's PACS parts: `lunglens pacs find URL ...` (its own subcommand), the options
`lunglens analyze --dicomweb URL --study UID [--store]` uses (retrieve into a temporary folder
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


def add_parser(subparsers) -> None:
    """Register `lunglens pacs find`."""
    pacs = subparsers.add_parser("pacs", help="PACS over DICOMweb: list studies")
    commands = pacs.add_subparsers(dest="pacs_command", required=True)
    find = commands.add_parser("find", help="list the studies on a DICOMweb server (QIDO-RS)")
    find.add_argument("url", help="DICOMweb root, e.g. https://pacs.example.org/dicom-web")
    add_query_options(find, "modality in the study, e.g. CT")
    add_connection_options(find)
    find.set_defaults(handler=cmd_find)


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
        "--store", action="store_true", help="send the DICOM results back to the server (STOW-RS)"
    )
    add_connection_options(parser)


def check_analyze_options(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of options, or None. With --dicomweb, --series is a
    series index or a UID (blanks around it removed)."""
    if args.dicomweb and not args.study:
        return "--dicomweb needs --study STUDY_UID"
    if (args.study or args.store) and not args.dicomweb:
        return "--study and --store need --dicomweb URL"
    if args.dicomweb and (args.path or args.demo):
        return "give a folder, --demo or --dicomweb, not several"
    if args.dicomweb and args.series:
        if not is_uid(args.series.strip()):  # an index is digits, a UID too
            return f"--series {args.series!r}: not a series index and {UID_WORDS}"
        args.series = args.series.strip()
    if args.store and args.anonymise:
        return (
            "--store with --anonymise: anonymised results cannot join the study in the PACS (they "
            "form a study of their own); store identified results, or write anonymised ones with --dicom-out"
        )
    return None


def retrieve_for_analysis(args: argparse.Namespace, progress: Callable[[int, int], None]) -> Path:
    """Retrieve `args.study` (only the series `args.series` when it is a UID) into a temporary
    folder removed at exit; returns the folder. Raises PacsError (named)."""
    import atexit
    import shutil
    import tempfile

    from lunglens.pacs import retrieve_study

    folder = Path(tempfile.mkdtemp(prefix="lunglens-pacs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    series = args.series if args.series and "." in args.series else None
    retrieved = retrieve_study(
        connection_from_args(args, args.dicomweb), args.study, folder, series=series, progress=progress
    )
    print(
        f"pacs:     {len(retrieved.files)} of {retrieved.n_expected} instances retrieved from {args.dicomweb}"
    )
    return folder


def write_and_store_results(args: argparse.Namespace, analysis, series) -> None:
    """--dicom-out: write the DICOM results; --store: send the same objects to the DICOMweb
    server. The PDF inside is the one --report wrote, when it did. Raises DicomOutError,
    WriteError or PacsError."""
    from lunglens.dicomout import build_dicom_results, save_results

    pdf_bytes = Path(args.report).read_bytes() if args.report else None
    results = build_dicom_results(analysis, series, anonymise=args.anonymise, pdf_bytes=pdf_bytes)
    if args.dicom_out:
        paths = save_results(results, series, Path(args.dicom_out))
        print(f"dicom:    {len(paths)} objects in {args.dicom_out} ({', '.join(p.name for p in paths)})")
    if args.store:  # never with --anonymise (check_analyze_options)
        from lunglens.pacs import store, stored_text

        connection = connection_from_args(args, args.dicomweb)
        stored = store(connection, [r.dataset for r in results])
        print(f"stored:   {stored_text(stored, results[0].dataset.StudyInstanceUID, connection)}")
