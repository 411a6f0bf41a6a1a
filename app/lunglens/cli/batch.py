"""`lunglens batch SOURCE --out DIR [--workers N] [--threads T] [--scheduler ADDRESS] [--model M]
[--fraction F] [--slice-cutoff P] [--provider P] [--lesion-method M] [--report] [--retry-failed]`: analyse every series
below SOURCE; `lunglens batch --dicomweb URL [--patient ID] [--date RANGE] [--modality M] --out DIR
...`: every CT series of the studies the DICOMweb query finds.

Exit status as for the other subcommands: 0 the batch ran (failed jobs are listed in the
worklist, they do not fail the command), 2 bad input (SOURCE or the DICOMweb server, --out, the
model, the scheduler), and 2 when jobs failed because their DICOMweb server was unavailable
(unreachable, no answer in time, a server error: when the server does not answer a search either,
the batch starts no other job, and the summary says so; a rerun tries them again and runs those
left)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lunglens.analysis import AnalysisOptions
from lunglens.batch.jobs import DicomwebQuery
from lunglens.batch.manifest import MANIFEST_NAME
from lunglens.batch.runner import BatchConfig, BatchError, run_batch
from lunglens.batch.worklist import WORKLIST_NAME
from lunglens.cli import pacs as pacs_command
from lunglens.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_lesion_method_option,
    add_model_options,
    chosen_lesion_method,
)
from lunglens.core.decision import DecisionParams
from lunglens.pacs import PacsError
from lunglens.threads import available_cores

#: Options that only a DICOMweb batch takes (argparse names; None when not given).
DICOMWEB_ONLY = ("patient", "date", "modality", "dicomweb_user", "dicomweb_ca")


def _dicomweb_query(args: argparse.Namespace) -> DicomwebQuery | None:
    """The DICOMweb query of --dicomweb and its filters, None without --dicomweb. Raises
    PacsError for a URL that is not http(s), BatchError for DICOMweb options without --dicomweb."""
    if not args.dicomweb:
        given = [f"--{name.replace('_', '-')}" for name in DICOMWEB_ONLY if getattr(args, name) is not None]
        if given:
            raise BatchError(f"{', '.join(given)}: options of a DICOMweb query; give --dicomweb URL")
        return None
    return DicomwebQuery(
        pacs_command.connection_from_args(args, args.dicomweb),
        patient=args.patient,
        date=args.date,
        modality="CT" if args.modality is None else args.modality or None,
    )


def cmd_batch(args: argparse.Namespace) -> int:
    """Handler of `lunglens batch`: returns the exit status."""
    try:
        decision = DecisionParams(slice_cutoff=args.slice_cutoff, patient_fraction=args.fraction)
        config = BatchConfig(
            source=Path(args.source) if args.source else None,
            dicomweb=_dicomweb_query(args),
            out=Path(args.out),
            workers=args.workers if args.workers is not None else min(2, available_cores()),
            scheduler=args.scheduler,
            model=Path(args.model) if args.model else None,
            provider=args.provider,
            options=AnalysisOptions(decision=decision, lesion_method=chosen_lesion_method(args)[0]),
            report=args.report,
            retry_failed=args.retry_failed,
            threads=args.threads,
        )
        summary = run_batch(config)
    except (BatchError, PacsError, ValueError) as exc:
        print(f"lunglens batch: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in summary.lines():
        print(line)
    print(f"       worklist: {Path(args.out) / WORKLIST_NAME}; manifest: {Path(args.out) / MANIFEST_NAME}")
    return EXIT_BAD_INPUT if summary.unavailable else EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `batch` on an argparse subparsers object (handler in `handler`)."""
    parser = subparsers.add_parser(
        "batch",
        help="analyse every series below a folder, or of a PACS query, on Dask workers (resumable)",
        description=(
            "Analyse every CT series found below SOURCE, or every CT series of the studies a "
            "DICOMweb query finds (--dicomweb), one job per series, on an embedded Dask cluster or "
            "an existing one. Writes DIR/<job id>.json (the analysis), DIR/worklist.csv and "
            "DIR/manifest.sqlite; a rerun with the same DIR skips finished series."
        ),
    )
    parser.add_argument(
        "source", nargs="?", help="folder holding the patients (searched recursively; never written)"
    )
    parser.add_argument("--out", required=True, help="output folder (created; not inside SOURCE)")
    parser.add_argument(
        "--workers",
        type=int,
        help=(
            "worker processes of the embedded cluster (default 2, or 1 on a one-core machine; at "
            "most the number of cores; ignored with --scheduler)"
        ),
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="threads per worker for decoding and onnxruntime (default: cores / workers; at most the number of cores)",
    )
    parser.add_argument("--scheduler", help="use an existing Dask cluster, e.g. tcp://host:8786")
    add_model_options(parser)
    add_lesion_method_option(parser)
    parser.add_argument("--report", action="store_true", help="also write DIR/<job id>.pdf per series")
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again the jobs an earlier run failed"
    )
    pacs = parser.add_argument_group(
        "DICOMweb (instead of SOURCE)",
        "the studies QIDO-RS finds are planned; each worker retrieves its series (WADO-RS) into "
        "DIR/.retrieving/ for the time of its job",
    )
    pacs.add_argument(
        "--dicomweb", metavar="URL", help="DICOMweb root, e.g. https://pacs.example.org/dicom-web"
    )
    pacs_command.add_query_options(pacs, "modality in the study (default CT; '' for every study)")
    pacs_command.add_connection_options(pacs)
    parser.set_defaults(handler=cmd_batch)
    return parser
