"""DICOM files: recognise them by content, read the header facts a series needs, decode one
frame to Hounsfield units, and collect the metadata a report needs. Plain pydicom plus a fast
path for the JPEG family (libjpeg-turbo via imagecodecs, which decodes without holding the GIL)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError

from lunglens.io.series import SeriesMetadata

try:  # optional fast decoder; pydicom's own handlers (pylibjpeg) are the fallback
    import imagecodecs
except ImportError:  # pragma: no cover - imagecodecs is a declared dependency
    imagecodecs = None

#: Transfer syntaxes decoded by libjpeg-turbo (baseline, extended, lossless processes 14).
_JPEG_FAMILY = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
}

# LungLens reads what scanners wrote, including values that bend the standard (non-conforming
# UIDs are common in real archives): read leniently and silently rather than warn per element.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

#: HU given to pixels marked as padding (outside the reconstructed field of view): air.
PADDING_HU = -1024


class DicomFileError(Exception):
    """A file that is not usable DICOM; the message is the reason shown to the user."""


@dataclass(frozen=True)
class FrameHeader:
    """The per-frame facts `discover` groups and sorts by. Positions and orientation in the
    patient coordinate system (mm); `frame` is None for single-frame files."""

    path: Path
    frame: int | None
    sop_instance_uid: str
    series_uid: str
    modality: str
    rows: int
    columns: int
    orientation: tuple[float, ...] | None
    position: tuple[float, float, float] | None
    pixel_spacing_mm: tuple[float, float] | None
    slice_thickness_mm: float | None
    instance_number: int | None
    description: str
    series_number: int | None
    samples_per_pixel: int
    patient_name: str = ""
    """PatientName as the file has it, "^" shown as a space."""
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    """StudyDate as written (YYYYMMDD), "" when absent."""
    study_time: str = ""
    study_description: str = ""


def looks_like_dicom(path: Path) -> bool:
    """True when the file carries the DICM preamble, or parses as a headerless dataset with the
    attributes of an image or a composite object (files without a file meta header)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    # Headerless datasets start with a group 0008 (or 0002) element, little endian.
    return len(head) >= 4 and head[1] == 0 and head[0] in (0x02, 0x08) and head[3] == 0


def read_dataset(path: Path, *, pixels: bool) -> Dataset:
    """Read a DICOM file; `pixels=False` skips the pixel data (large values deferred).
    Raises DicomFileError with a short reason on anything unreadable."""
    try:
        if pixels:
            return pydicom.dcmread(path, force=True)
        return pydicom.dcmread(path, force=True, defer_size=1024)
    except InvalidDicomError as exc:
        raise DicomFileError(f"not a DICOM file ({exc})") from exc
    except (EOFError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DicomFileError(f"truncated or malformed DICOM ({type(exc).__name__}: {exc})") from exc


def functional_attribute(ds: Dataset, frame: int | None, sequence: str, attribute: str):
    """An attribute from the top level or, for enhanced multi-frame objects, from the
    per-frame functional group of `frame`, else the shared functional group."""
    if attribute in ds:
        return ds[attribute].value
    groups = []
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds:
        groups.append(ds.PerFrameFunctionalGroupsSequence[frame])
    if "SharedFunctionalGroupsSequence" in ds:
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        if sequence in group and len(group[sequence].value):
            item = group[sequence].value[0]
            if attribute in item:
                return item[attribute].value
    return None


def as_floats(value, n: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == n else None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def frame_headers(path: Path) -> list[FrameHeader]:
    """One FrameHeader per frame of a DICOM image file. Raises DicomFileError with the reason
    when the file is not an image this viewer can list (no pixel data, unreadable header)."""
    ds = read_dataset(path, pixels=False)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        sop = ds.get("SOPClassUID")
        kind = sop.name if sop is not None else "object"
        raise DicomFileError(f"no pixel data ({kind})")
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise DicomFileError("floating-point pixel data is not CT")
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if not rows or not columns:
        raise DicomFileError("no image size (Rows/Columns missing)")
    n_frames = _int(ds.get("NumberOfFrames")) or 1
    multi = n_frames > 1 or "PerFrameFunctionalGroupsSequence" in ds
    headers = []
    for index in range(n_frames):
        frame = index if multi else None
        spacing = as_floats(functional_attribute(ds, frame, "PixelMeasuresSequence", "PixelSpacing"), 2)
        headers.append(
            FrameHeader(
                path=path,
                frame=frame,
                sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
                series_uid=str(ds.get("SeriesInstanceUID", "")) or f"no-series-uid:{path.parent}",
                modality=str(ds.get("Modality", "")).upper(),
                rows=rows,
                columns=columns,
                orientation=as_floats(
                    functional_attribute(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
                ),
                position=as_floats(
                    functional_attribute(ds, frame, "PlanePositionSequence", "ImagePositionPatient"), 3
                ),
                pixel_spacing_mm=spacing,
                slice_thickness_mm=_float(
                    functional_attribute(ds, frame, "PixelMeasuresSequence", "SliceThickness")
                ),
                instance_number=_int(ds.get("InstanceNumber")),
                description=str(ds.get("SeriesDescription", "")).strip(),
                series_number=_int(ds.get("SeriesNumber")),
                samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
                patient_name=_text(ds, "PatientName").replace("^", " ").strip(),
                patient_id=_text(ds, "PatientID"),
                study_uid=_text(ds, "StudyInstanceUID"),
                study_date=_text(ds, "StudyDate"),
                study_time=_text(ds, "StudyTime"),
                study_description=_text(ds, "StudyDescription"),
            )
        )
    return headers


def _stored_values(ds: Dataset, frame: int | None) -> np.ndarray:
    """The stored pixel values of one frame (before rescale), as pydicom would return them."""
    syntax = str(getattr(ds.file_meta, "TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    fast = (
        imagecodecs is not None
        and syntax in _JPEG_FAMILY
        and frame is None
        and int(ds.get("SamplesPerPixel", 1)) == 1
        and int(ds.get("PixelRepresentation", 0)) == 0
    )
    if fast:
        encoded = next(generate_frames(ds.PixelData, number_of_frames=1))
        return imagecodecs.jpeg8_decode(encoded)
    if frame is None:
        return ds.pixel_array
    return pydicom.pixels.pixel_array(ds, index=frame)


def frame_hu(ds: Dataset, frame: int | None) -> np.ndarray:
    """One frame in Hounsfield units (int16, rows x columns): stored values through the
    modality rescale (slope, intercept; top level or functional groups), padding set to air."""
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DicomFileError("colour image, not a CT slice")
    try:
        stored = _stored_values(ds, frame)
    except Exception as exc:  # decoders raise many types; the reason is what matters
        raise DicomFileError(f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from exc
    if stored.ndim != 2:
        raise DicomFileError(f"unexpected pixel array shape {stored.shape}")
    slope = _float(functional_attribute(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")) or 1.0
    intercept = (
        _float(functional_attribute(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")) or 0.0
    )
    padding = ds.get("PixelPaddingValue")
    if padding is not None and not isinstance(padding, bytes):
        limit = ds.get("PixelPaddingRangeLimit", padding)
        low, high = sorted((int(padding), int(limit)))
        is_padding = (stored >= low) & (stored <= high)
    else:
        is_padding = None
    if slope == 1.0 and float(intercept).is_integer() and stored.dtype.kind in "ui" and stored.itemsize <= 2:
        # The common case, kept in int16 without a float or int32 round trip.
        smallest, largest = int(stored.min()), int(stored.max())
        if smallest + intercept >= -32768 and largest + intercept <= 32767 and largest <= 32767:
            hu = stored.astype(np.int16)
            hu += np.int16(intercept)
            if is_padding is not None:
                hu[is_padding] = PADDING_HU
            return hu
    hu = np.rint(stored.astype(np.float64) * slope + intercept)
    if is_padding is not None:
        hu[is_padding] = PADDING_HU
    return np.clip(hu, -32768, 32767).astype(np.int16)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def _first_number(value) -> float | None:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    return _float(value)


def frame_position(ds: Dataset, frame: int | None) -> tuple[float, float, float] | None:
    """ImagePositionPatient of a frame (mm), None when absent."""
    return as_floats(functional_attribute(ds, frame, "PlanePositionSequence", "ImagePositionPatient"), 3)


def image_orientation(ds: Dataset) -> tuple[float, ...] | None:
    """ImageOrientationPatient (row and column direction cosines), None when absent."""
    frame = 0 if "PerFrameFunctionalGroupsSequence" in ds else None
    return as_floats(
        functional_attribute(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
    )


def series_metadata(ds: Dataset) -> SeriesMetadata:
    """The report's metadata from one dataset (pass a middle slice: its window is used)."""
    frame = 0 if "PerFrameFunctionalGroupsSequence" in ds else None
    return SeriesMetadata(
        patient_name=_text(ds, "PatientName").replace("^", " ").strip(),
        patient_id=_text(ds, "PatientID"),
        patient_sex=_text(ds, "PatientSex"),
        patient_age=_text(ds, "PatientAge"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        study_date=_text(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_int(ds.get("SeriesNumber")),
        institution=_text(ds, "InstitutionName"),
        manufacturer=_text(ds, "Manufacturer"),
        scanner_model=_text(ds, "ManufacturerModelName"),
        kernel=_text(ds, "ConvolutionKernel"),
        window_center_hu=_first_number(
            functional_attribute(ds, frame, "FrameVOILUTSequence", "WindowCenter")
        ),
        window_width_hu=_first_number(functional_attribute(ds, frame, "FrameVOILUTSequence", "WindowWidth")),
    )
