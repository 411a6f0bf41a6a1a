"""Writing the report file: render, then write atomically (temporary file, then rename)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from lunglens.analysis import Analysis
from lunglens.atomic import write_atomically
from lunglens.core.measure import MeasurementRecord
from lunglens.io.series import Series
from lunglens.report.document import render_report


def write_report(
    analysis: Analysis,
    series: Series,
    path: Path,
    *,
    anonymise: bool = False,
    measurements: Sequence[MeasurementRecord] = (),
    read_only_folders: Iterable[Path] = (),
) -> None:
    """Write the PDF report of `analysis` of `series` (with the reader's `measurements`) to
    `path`; a reader never sees a partial file. Raises `lunglens.atomic.WriteError` (naming
    `path`) when it cannot be written, or when `path` lies in `read_only_folders` (the folder the
    series was found in, as opened) or in a folder holding its files, or is one of its files (input
    folders are read-only), or is a device, a pipe or a folder."""
    source_folders = {Path(p).parent for p in series.source_paths}
    write_atomically(
        Path(path),
        render_report(analysis, series, anonymise=anonymise, measurements=measurements),
        read_only_folders=[*read_only_folders, *sorted(source_folders)],
        read_only_files=series.source_paths,
    )
