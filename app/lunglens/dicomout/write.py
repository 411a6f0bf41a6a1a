"""All DICOM results of one analysis: build them in memory (for STOW-RS) or write them to a
folder (`lunglens analyze --dicom-out DIR`). Each is a new series of the source study (or,
anonymised, of a study of its own: see `lunglens.dicomout.source`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import generate_uid

from lunglens.atomic import WriteError, write_atomically
from lunglens.dicomout.facts import result_facts
from lunglens.dicomout.pdf import build_pdf
from lunglens.dicomout.sc import build_key_image
from lunglens.dicomout.seg import build_seg
from lunglens.dicomout.source import DicomOutError, mark_deidentified, read_source_headers
from lunglens.dicomout.sr import build_sr
from lunglens.io.series import Series
from lunglens.report import render_report
from lunglens.report.images import key_images


@dataclass(frozen=True)
class DicomResult:
    """One result object and the file name it is written under."""

    name: str
    dataset: Dataset


def build_dicom_results(
    analysis,
    series: Series,
    *,
    anonymise: bool = False,
    pdf_bytes: bytes | None = None,
    quantification: dict | None = None,
    lung_labels: np.ndarray | None = None,
    lesion_labels: np.ndarray | None = None,
) -> list[DicomResult]:
    """The SR, the SEG (only with both label volumes: uint8 z, y, x in volume order; lungs
    0/1 right/2 left, lesions 0/1 ground glass/2 consolidation), the
    key-image secondary captures and the encapsulated PDF (`pdf_bytes`, or the report rendered
    here) of `analysis` of `series`. The label volumes default to the analysis' own
    quantification masks. Raises DicomOutError when the series cannot have DICOM results
    (`lunglens.dicomout.source.dicom_results_problem`)."""
    own = analysis.quantification
    if lung_labels is None and lesion_labels is None and own is not None and own.masks is not None:
        lung_labels, lesion_labels = own.masks.lung_labels(), own.masks.lesion_classes()
    sources = read_source_headers(series, anonymise=anonymise)
    facts = result_facts(analysis, quantification)
    results = [
        DicomResult(
            "lunglens-sr.dcm", build_sr(facts, sources, series_uid=generate_uid(), sop_uid=generate_uid())
        )
    ]
    if lung_labels is not None and lesion_labels is not None:
        seg = build_seg(
            facts, sources, lung_labels, lesion_labels, series_uid=generate_uid(), sop_uid=generate_uid()
        )
        results.append(DicomResult("lunglens-seg.dcm", seg))
    keys = key_images(analysis, series.hu, lung_labels, lesion_labels)
    outlined = lung_labels is not None or lesion_labels is not None
    sc_series = generate_uid()
    for number, key in enumerate(keys, start=1):
        image = build_key_image(
            facts, sources, key, number, outlined, series_uid=sc_series, sop_uid=generate_uid()
        )
        results.append(DicomResult(f"lunglens-key-{number:02d}.dcm", image))
    if pdf_bytes is None:
        pdf_bytes = render_report(analysis, series, anonymise=anonymise)
    document = build_pdf(
        facts,
        sources.study_header(),
        [sources.headers[key.index] for key in keys],
        pdf_bytes,
        identified=not anonymise,
        series_uid=generate_uid(),
        sop_uid=generate_uid(),
    )
    results.append(DicomResult("lunglens-report-pdf.dcm", document))
    if anonymise:
        for result in results:
            mark_deidentified(result.dataset)
    return results


def encode(dataset: Dataset) -> bytes:
    """`dataset` as a DICOM Part 10 file (preamble, file meta, data set)."""
    buffer = DicomBytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def write_dicom_results(
    analysis,
    series: Series,
    out_dir: Path,
    anonymise: bool = False,
    pdf_bytes: bytes | None = None,
    *,
    quantification: dict | None = None,
    lung_labels: np.ndarray | None = None,
    lesion_labels: np.ndarray | None = None,
) -> list[Path]:
    """Write the DICOM results (see `build_dicom_results`) into `out_dir` (created if needed;
    never the series' own folder), each file atomically. Returns the paths written.
    Raises DicomOutError for a series that cannot have DICOM results or an output inside the input."""
    check_output_folder(series, Path(out_dir))
    results = build_dicom_results(
        analysis,
        series,
        anonymise=anonymise,
        pdf_bytes=pdf_bytes,
        quantification=quantification,
        lung_labels=lung_labels,
        lesion_labels=lesion_labels,
    )
    return save_results(results, series, Path(out_dir))


def check_output_folder(series: Series, out_dir: Path) -> None:
    """Raise DicomOutError when `out_dir` lies in a folder of the series' source files."""
    source_folders = {Path(p).resolve().parent for p in series.source_paths}
    if any(_inside(out_dir.resolve(), folder) for folder in source_folders):
        raise DicomOutError(f"{out_dir}: inside the input folder; LungLens never writes there")


def check_earlier_results(results: list[DicomResult], out_dir: Path) -> None:
    """Raise DicomOutError when `out_dir` holds LungLens results (lunglens-*.dcm) these would not
    all replace: results this run does not write (a SEG, more key images) or of another study would
    stay beside them, and the folder would mix two analyses or two patients."""
    names = {result.name for result in results}
    study = str(results[0].dataset.StudyInstanceUID)
    for path in sorted(out_dir.glob("lunglens-*.dcm")) if out_dir.is_dir() else ():
        try:
            earlier = str(pydicom.dcmread(path, stop_before_pixels=True).get("StudyInstanceUID", ""))
        except Exception:  # noqa: BLE001 - unreadable: it cannot be told to be ours
            earlier = ""
        if path.name not in names or earlier != study:
            raise DicomOutError(
                f"{out_dir}: holds {path.name} of an earlier analysis"
                + ("" if earlier == study else " of another study")
                + " that these results would not replace: write them into an empty folder"
            )


def save_results(results: list[DicomResult], series: Series, out_dir: Path) -> list[Path]:
    """Write built `results` into `out_dir` (see `write_dicom_results`; results of an earlier
    analysis there are replaced only when all of them are, see `check_earlier_results`); returns
    the paths."""
    check_output_folder(series, out_dir)
    check_earlier_results(results, out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from exc
    paths = []
    for result in results:
        path = out_dir / result.name
        write_atomically(path, encode(result.dataset))
        paths.append(path)
    return paths
