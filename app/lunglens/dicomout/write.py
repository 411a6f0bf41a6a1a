"""All DICOM results of one analysis: build them in memory (for STOW-RS) or write them to a
folder (`lunglens analyze --dicom-out DIR`). Each is a new series of the source study (or,
anonymised, of a study of its own: see `lunglens.dicomout.source`)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

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

#: The names the results are written under in their folder (`build_dicom_results`).
RESULT_NAMES = "lunglens-*.dcm"


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
    outputs: str = "folder",
) -> list[DicomResult]:
    """The SR, the SEG (only when the analysis' quantification holds its masks: the lungs and
    the lesion classes), the key-image secondary captures and the encapsulated PDF (`pdf_bytes`,
    or the report rendered here) of `analysis` of `series`: what `lunglens analyze --dicom-out`
    writes (with `save_results`) and `--store` sends. Raises DicomOutError when the series cannot
    have DICOM results (`lunglens.dicomout.source.dicom_results_problem`, its remedy fitting where
    the results go, `outputs`), and, naming the folder,
    when highdicom refuses what it is given (a last line of defence: that check should have said
    why before the analysis ran)."""
    masks = analysis.quantification.masks if analysis.quantification is not None else None
    sources = read_source_headers(
        series, anonymise=anonymise, segmentation=masks is not None, outputs=outputs
    )
    if pdf_bytes is None:
        pdf_bytes = render_report(analysis, series, anonymise=anonymise)
    try:
        return _build(analysis, series, sources, masks, anonymise=anonymise, pdf_bytes=pdf_bytes)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if not _raised_by_dicom_library(exc):
            raise  # LungLens' own error: never blamed on the files
        raise DicomOutError(
            f"{series.ref.folder}: the DICOM results cannot be made from its files "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _raised_by_dicom_library(exc: BaseException) -> bool:
    """Whether `exc` was raised inside highdicom or pydicom (refusing what the files hold): the
    innermost of its frames in highdicom, pydicom or LungLens is theirs (the standard library's,
    e.g. `enum` refusing PatientSex "MALE" for highdicom, do not count)."""
    packages = ("highdicom", "pydicom", "lunglens")
    modules = [
        frame.f_globals.get("__name__", "").split(".")[0] for frame, _ in traceback.walk_tb(exc.__traceback__)
    ]
    ours_or_theirs = [module for module in modules if module in packages]
    return bool(ours_or_theirs) and ours_or_theirs[-1] != "lunglens"


def _build(
    analysis, series: Series, sources, masks, *, anonymise: bool, pdf_bytes: bytes
) -> list[DicomResult]:
    """The objects `build_dicom_results` describes, from the read `sources` and the label `masks`."""
    facts = result_facts(analysis)
    results = [
        DicomResult(
            "lunglens-sr.dcm", build_sr(facts, sources, series_uid=generate_uid(), sop_uid=generate_uid())
        )
    ]
    if masks is not None:
        seg = build_seg(
            facts,
            sources,
            masks.lung_labels(),
            masks.lesion_classes(),
            series_uid=generate_uid(),
            sop_uid=generate_uid(),
        )
        results.append(DicomResult("lunglens-seg.dcm", seg))
    keys = key_images(analysis, series.hu)
    outlined = masks is not None
    sc_series = generate_uid()
    for number, key in enumerate(keys, start=1):
        image = build_key_image(
            facts, sources, key, number, outlined, series_uid=sc_series, sop_uid=generate_uid()
        )
        results.append(DicomResult(f"lunglens-key-{number:02d}.dcm", image))
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
    for path in sorted(out_dir.glob(RESULT_NAMES)) if out_dir.is_dir() else ():
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
    """Write built `results` (`build_dicom_results`) into `out_dir` (created if needed; never a
    folder of the series' source files, `check_output_folder`), each file atomically; results of
    an earlier analysis there are replaced only when all of them are (`check_earlier_results`).
    Returns the paths. Raises DicomOutError or WriteError."""
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
