"""DICOM files: recognise them by content, read the header facts a series needs, decode one
frame to Hounsfield units, and collect the metadata a report needs. Plain pydicom plus a fast
path for the JPEG family (libjpeg-turbo via imagecodecs, which decodes without holding the GIL)."""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
import pydicom.filereader
import pydicom.pixels
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, get_frame
from pydicom.errors import InvalidDicomError

from lunglens.io.files import NotRegularFileError, open_regular
from lunglens.io.plausible import PADDING_HU, PHYSICAL_HU
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

#: A file's header (every element before the pixel data) is parsed from at most this many bytes:
#: ample for an enhanced multi-frame CT of thousands of frames, and a bound on the time and memory
#: any file can take at discovery (pydicom parses long headers at a few MB/s).
HEADER_LIMIT_BYTES = 4 << 20
#: Most headers end within this many bytes: read first, the rest only when the header goes on.
HEADER_FIRST_READ_BYTES = 64 << 10

_PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
#: Item and sequence delimiter tags of encapsulated pixel data (always little endian).
_ITEM_TAG, _SEQUENCE_DELIMITER_TAG = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0"
#: At most this many items of encapsulated pixel data are walked to check that they end within
#: the file (8 bytes read per item): a bound on the time any file can take at discovery.
FRAGMENT_WALK_LIMIT = 100_000
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR"}

#: Compressed transfer syntaxes whose frames end with an end-of-image marker (FF D9): the JPEG
#: family, JPEG-LS, JPEG 2000 and HTJ2K. A frame without it was cut short.
_ENDS_WITH_EOI = {
    *_JPEG_FAMILY,
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}

#: SOP classes of CT images (CT, Enhanced CT, Legacy Converted Enhanced CT): one without pixel
#: data is cut short, and a file cut before its Modality still says what it is by its SOP class.
CT_IMAGE_STORAGE = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2")


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
    burned_in_annotation: bool = False
    """True when the file declares BurnedInAnnotation YES: identifying text in its pixels."""


def looks_like_dicom(path: Path) -> bool:
    """True when the file carries the DICM preamble, or parses as a headerless dataset with the
    attributes of an image or a composite object (files without a file meta header). Only
    regular files are opened (a named pipe or a device is never read)."""
    try:
        with open_regular(path) as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    # Headerless datasets start with a group 0008 (or 0002) element, little endian.
    return len(head) >= 4 and head[1] == 0 and head[0] in (0x02, 0x08) and head[3] == 0


@dataclass(frozen=True)
class PixelDataElement:
    """Where a file's pixel data element starts and what its header says about its size."""

    keyword: str
    """"PixelData", "FloatPixelData" or "DoubleFloatPixelData"."""
    length: int | None
    """Bytes of the value; None for an undefined length (encapsulated, compressed frames)."""
    value_offset: int
    """Byte offset of the value in the file."""
    file_size: int
    """Bytes in the whole file."""
    cut_short: str = ""
    """Why encapsulated pixel data is incomplete (an item runs past the end of the file); ""
    when it is complete or native (`length` is then checked against the file size)."""


def _fragments_problem(fh, offset: int, file_size: int) -> str:
    """Why the encapsulated pixel data whose value starts at byte `offset` of the open file `fh`
    is incomplete, or "": its items (basic offset table, fragments) are walked by their 8-byte
    headers, nothing decoded, up to the sequence delimiter, the end of the file or
    FRAGMENT_WALK_LIMIT items. The file must not end before the delimiter: a file cut between
    two items has lost its last fragments, or at least the delimiter that pydicom needs to read
    the pixel data at all."""
    for _ in range(FRAGMENT_WALK_LIMIT):
        fh.seek(offset)
        head = fh.read(8)
        if head[:4] == _SEQUENCE_DELIMITER_TAG:
            return ""
        if not head:
            return (
                "file cut short: the compressed pixel data ends without its sequence delimiter "
                f"(at byte {offset} of {file_size})"
            )
        if len(head) < 8:
            return f"file cut short inside the compressed pixel data (at byte {offset} of {file_size})"
        if head[:4] != _ITEM_TAG:
            return f"malformed compressed pixel data: no item at byte {offset}"
        length = struct.unpack("<I", head[4:])[0]
        if offset + 8 + length > file_size:
            return (
                f"file cut short: a compressed fragment of {length} bytes at byte {offset} runs past the end "
                f"of the file ({file_size} bytes)"
            )
        offset += 8 + length
    return ""


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, NotRegularFileError):
        return f"cannot be read ({exc.strerror or exc})"
    return str(exc)


def _pixel_element(prefix: bytes, offset: int, ds: Dataset, file_size: int) -> PixelDataElement | None:
    """The pixel data element whose tag starts at `offset` of `prefix`, None when another or no
    element starts there (pydicom's `stop_before_pixels` leaves the stream at that tag)."""
    head = prefix[offset : offset + 12]
    if len(head) < 8:
        return None
    implicit, little = getattr(ds, "original_encoding", (None, True))
    endian = ">" if little is False else "<"
    group, element = struct.unpack(endian + "HH", head[:4])
    keyword = _PIXEL_TAGS.get((group << 16) | element)
    if keyword is None:
        return None
    if implicit is None:
        implicit = not head[4:6].isalpha()
    if implicit:
        (length,), start = struct.unpack(endian + "I", head[4:8]), offset + 8
    elif head[4:6] in _LONG_VRS and len(head) == 12:
        (length,), start = struct.unpack(endian + "I", head[8:12]), offset + 12
    else:
        (length,), start = struct.unpack(endian + "H", head[6:8]), offset + 8
    return PixelDataElement(keyword, None if length == 0xFFFFFFFF else length, start, file_size)


class _ElementOrder:
    """pydicom's `stop_when` for a header: stop at the pixel data, or at the first top-level
    element that cannot be there (the command group 0000, or a tag below the one before: a dataset's
    elements ascend), so that garbage after a DICOM preamble is not parsed for megabytes."""

    def __init__(self):
        self.last = 0
        self.problem = ""
        self.pixel_keyword = ""

    def stop(self, tag, _vr, _length) -> bool:
        if int(tag) in _PIXEL_TAGS:
            self.pixel_keyword = _PIXEL_TAGS[int(tag)]
            return True
        if tag.group == 0x0000 or int(tag) < self.last:
            self.problem = f"malformed DICOM header: element ({tag.group:04X},{tag.element:04X}) out of place"
            return True
        self.last = int(tag)
        return False


def _starts_with_command_group(prefix: bytes) -> bool:
    """True when the dataset after the file meta header starts with group 0000: pydicom would
    read it as a network command set, element by element, however long it is (a file of
    zeros after a DICOM preamble)."""
    start = 0
    if prefix[128:132] == b"DICM" and prefix[132:138] == b"\x02\x00\x00\x00UL":
        start = 144 + struct.unpack("<I", prefix[140:144])[0]
    return prefix[start : start + 2] == b"\x00\x00"


def read_header(path: Path) -> tuple[Dataset, PixelDataElement | None]:
    """Every element before the pixel data, parsed from the first HEADER_FIRST_READ_BYTES of the
    file or, when the header is longer, HEADER_LIMIT_BYTES at most, and the pixel data element's
    size (None when the file has none); compressed pixel data is checked to end within the file
    (`_fragments_problem`). Bounded cost whatever the file's size. Raises
    DicomFileError with a short reason on anything unreadable."""
    try:
        with open_regular(path) as fh:
            file_size = os.fstat(fh.fileno()).st_size
            prefix = fh.read(HEADER_FIRST_READ_BYTES)
            parsed = _parse_header(prefix, file_size)
            if parsed is None:
                prefix += fh.read(HEADER_LIMIT_BYTES - len(prefix))
                parsed = _parse_header(prefix, file_size)
            pixel = parsed[1] if parsed is not None else None
            if pixel is not None and pixel.length is None and pixel.value_offset:  # encapsulated
                parsed = (
                    parsed[0],
                    replace(pixel, cut_short=_fragments_problem(fh, pixel.value_offset, file_size)),
                )
    except OSError as exc:
        raise DicomFileError(_reason(exc)) from exc
    if parsed is None:
        raise DicomFileError(
            f"header longer than {HEADER_LIMIT_BYTES >> 20} MiB before any pixel data (not read further)"
        )
    return parsed


def _parse_header(prefix: bytes, file_size: int) -> tuple[Dataset, PixelDataElement | None] | None:
    """`read_header` on the first bytes of a file; None when they end before the header does."""
    if _starts_with_command_group(prefix):
        raise DicomFileError("malformed DICOM header: a command group (0000) where the dataset starts")
    buffer = io.BytesIO(prefix)
    order = _ElementOrder()
    cut = file_size > len(prefix)
    try:
        ds = pydicom.filereader.read_partial(buffer, stop_when=order.stop, force=True)
    except InvalidDicomError as exc:
        raise DicomFileError(f"not a DICOM file ({exc})") from exc
    except (EOFError, ValueError, KeyError, TypeError, AttributeError, OSError, struct.error) as exc:
        if cut:
            return None
        raise DicomFileError(f"truncated or malformed DICOM ({type(exc).__name__}: {exc})") from exc
    if order.problem:
        raise DicomFileError(order.problem)
    pixel = _pixel_element(prefix, buffer.tell(), ds, file_size)
    if pixel is None and order.pixel_keyword:  # a deflated dataset: its size is not known here
        pixel = PixelDataElement(order.pixel_keyword, None, 0, file_size)
    if pixel is None and cut:
        return None
    return ds, pixel


def read_dataset(path: Path, *, pixels: bool) -> Dataset:
    """Read a DICOM file; `pixels=False` reads the header only (`read_header`: bounded cost).
    Raises DicomFileError with a short reason on anything unreadable."""
    if not pixels:
        return read_header(path)[0]
    try:
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise DicomFileError("empty file (0 bytes)")
            return pydicom.dcmread(fh, force=True)
    except InvalidDicomError as exc:
        raise DicomFileError(f"not a DICOM file ({exc})") from exc
    except NotRegularFileError as exc:
        raise DicomFileError(str(exc)) from exc
    except FileNotFoundError as exc:  # listed when the folder was read, gone since
        raise DicomFileError("no longer there (removed after the folder was read)") from exc
    except (EOFError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DicomFileError(f"truncated or malformed DICOM ({type(exc).__name__}: {exc})") from exc


def functional_attribute(ds: Dataset, frame: int | None, sequence: str, attribute: str):
    """An attribute from the top level or, for enhanced multi-frame objects, from the
    per-frame functional group of `frame`, else the shared functional group."""
    if attribute in ds:
        return ds[attribute].value
    groups = []
    if frame is not None and len(ds.get("PerFrameFunctionalGroupsSequence", ())) > frame:
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
    """`n` finite floats from a multi-valued attribute, None when absent or anything else."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == n and all(math.isfinite(v) for v in values) else None


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


def _claims_problem(
    ds: Dataset, pixel: PixelDataElement, n_frames: int, rows: int, columns: int
) -> str | None:
    """Why the header's claims (frames, size, bits) cannot hold for the bytes in the file, or
    None. Checked before anything the size of the claim is allocated."""
    allocated, stored = _int(ds.get("BitsAllocated")), _int(ds.get("BitsStored"))
    if allocated not in (1, 8, 16, 32):
        return f"BitsAllocated {allocated} is not a DICOM pixel size (1, 8, 16 or 32 bits)"
    if stored is not None and not 1 <= stored <= allocated:
        return f"BitsStored {stored} does not fit BitsAllocated {allocated}"
    if n_frames < 1:
        return f"NumberOfFrames {n_frames}"
    available = pixel.file_size - pixel.value_offset
    if pixel.cut_short:
        return pixel.cut_short
    if pixel.length is None:
        # each compressed frame takes at least an item header (8 bytes)
        if n_frames * 8 > available:
            return f"header claims {n_frames} frames but the file holds {available} bytes of pixel data"
    else:
        samples = _int(ds.get("SamplesPerPixel")) or 1
        expected = -(-n_frames * rows * columns * samples * allocated // 8)
        if pixel.length < expected:
            return (
                f"header claims {n_frames} frame(s) of {columns}x{rows} ({expected} bytes) but the pixel data "
                f"holds {pixel.length} bytes"
            )
        if pixel.length > available:
            return f"file cut short: pixel data of {pixel.length} bytes, {available} in the file"
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) < n_frames:
        return f"header claims {n_frames} frames but describes {len(per_frame)}"
    return None


def frame_headers(path: Path) -> list[FrameHeader]:
    """One FrameHeader per frame of a DICOM image file. Raises DicomFileError with the reason
    when the file is not an image this viewer can list (no pixel data, unreadable header)."""
    ds, pixel = read_header(path)
    if pixel is None:
        sop = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
        if sop is not None and str(sop) in CT_IMAGE_STORAGE:  # a CT image always holds pixels
            raise DicomFileError(f"file cut short: it ends before its pixel data ({sop.name})")
        kind = sop.name if sop is not None else "object"
        raise DicomFileError(f"no pixel data ({kind})")
    if pixel.keyword != "PixelData":
        raise DicomFileError("floating-point pixel data is not CT")
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if not rows or not columns or rows < 0 or columns < 0:
        raise DicomFileError("no image size (Rows/Columns missing)")
    n_frames = _int(ds.get("NumberOfFrames")) or 1
    problem = _claims_problem(ds, pixel, n_frames, rows, columns)
    if problem:
        raise DicomFileError(problem)
    multi = n_frames > 1 or "PerFrameFunctionalGroupsSequence" in ds
    headers = []
    for index in range(n_frames):
        frame = index if multi else None
        spacing = as_floats(functional_attribute(ds, frame, "PixelMeasuresSequence", "PixelSpacing"), 2)
        thickness = _float(functional_attribute(ds, frame, "PixelMeasuresSequence", "SliceThickness"))
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
                # a size of zero or below describes no image: taken as not stated
                pixel_spacing_mm=spacing if spacing is not None and min(spacing) > 0 else None,
                slice_thickness_mm=thickness
                if thickness and math.isfinite(thickness) and thickness > 0
                else None,
                instance_number=_int(ds.get("InstanceNumber")),
                description=text_of(ds, "SeriesDescription"),
                series_number=_int(ds.get("SeriesNumber")),
                samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
                patient_name=person_name(ds),
                patient_id=text_of(ds, "PatientID"),
                study_uid=text_of(ds, "StudyInstanceUID"),
                study_date=text_of(ds, "StudyDate"),
                study_time=text_of(ds, "StudyTime"),
                study_description=text_of(ds, "StudyDescription"),
                burned_in_annotation=text_of(ds, "BurnedInAnnotation").upper() == "YES",
            )
        )
    return headers


def _encoded_frame(ds: Dataset, frame: int | None) -> bytes:
    """The compressed bytes of one frame of an encapsulated dataset."""
    if frame is None:
        return next(generate_frames(ds.PixelData, number_of_frames=1))
    return get_frame(ds.PixelData, frame, number_of_frames=_int(ds.get("NumberOfFrames")) or 1)


def _stored_values(ds: Dataset, frame: int | None) -> np.ndarray:
    """The stored pixel values of one frame (before rescale), bits above BitsStored untouched
    (`_check_bits` decides whether they may be ignored). A compressed frame must end with its
    end-of-image marker: decoders fill a stream cut short with made-up rows and say nothing."""
    syntax = str(getattr(ds.file_meta, "TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    encoded = None
    if syntax in _ENDS_WITH_EOI:
        with contextlib.suppress(ValueError, StopIteration):  # fragments pydicom's decoder may still sort out
            encoded = _encoded_frame(ds, frame)
    # the marker may be followed by a padding byte (00 or FF) that makes the length even
    if encoded is not None and b"\xff\xd9" not in encoded[-4:]:
        raise DicomFileError(f"compressed frame of {len(encoded)} bytes cut short (no end-of-image marker)")
    fast = (
        imagecodecs is not None
        and syntax in _JPEG_FAMILY
        and int(ds.get("SamplesPerPixel", 1)) == 1
        and int(ds.get("PixelRepresentation", 0)) == 0
    )
    if fast and frame is None and encoded is not None:
        return imagecodecs.jpeg8_decode(encoded)
    return pydicom.pixels.pixel_array(ds, index=frame, correct_unused_bits=False)


def _check_bits(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """`stored` as BitsStored-bit values. Unsigned values must fit BitsStored; signed ones must be
    sign-extended or zero-filled above it (then sign-extended here). Anything else means the
    header's BitsStored does not describe the data, and masking would make up values."""
    bits = _int(ds.get("BitsStored")) or stored.itemsize * 8
    spare = stored.itemsize * 8 - bits
    if spare <= 0:
        return stored
    if stored.dtype.kind == "u":
        largest = int(stored.max())
        if largest >> bits:
            raise DicomFileError(f"stored values up to {largest} do not fit BitsStored {bits}")
        return stored
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if int(stored.min()) >= low and int(stored.max()) <= high:
        return stored
    unsigned = stored.view(stored.dtype.str.replace("i", "u"))
    if int(unsigned.max()) >> bits:
        raise DicomFileError(f"stored values use more bits than BitsStored {bits}")
    return (stored << spare) >> spare


def frame_rescale(ds: Dataset, frame: int | None) -> tuple[float, float] | None:
    """(RescaleSlope, RescaleIntercept) of a frame as it states them (top level or functional
    groups; 1 or 0 for the one it leaves out), None when it states neither. A slope must be a
    positive finite number and an intercept a finite one, else the frame has no Hounsfield units
    (DicomFileError)."""
    values: list[float | None] = []
    for name in ("RescaleSlope", "RescaleIntercept"):
        value = functional_attribute(ds, frame, "PixelValueTransformationSequence", name)
        if value is None or value == "":
            values.append(None)
            continue
        number = _float(value)
        if number is None or not math.isfinite(number):
            raise DicomFileError(f"{name} {value!r} is not a finite number")
        values.append(number)
    if values == [None, None]:
        return None
    slope, intercept = 1.0 if values[0] is None else values[0], 0.0 if values[1] is None else values[1]
    if slope <= 0:
        raise DicomFileError(f"RescaleSlope {slope:g} is not positive: the values cannot be HU")
    return slope, intercept


def frame_hu(ds: Dataset, frame: int | None) -> np.ndarray:
    """One frame in Hounsfield units (int16, rows x columns): stored values through the
    modality rescale (`frame_rescale`; slope 1 and intercept 0 when the frame states none: the
    loader checks that against the series), padding set to air.
    Raises DicomFileError when the frame cannot be decoded or its values are not HU of a CT
    slice (`lunglens.io.plausible`)."""
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DicomFileError("colour image, not a CT slice")
    slope, intercept = frame_rescale(ds, frame) or (1.0, 0.0)
    try:
        stored = _stored_values(ds, frame)
    except DicomFileError:
        raise
    except Exception as exc:  # decoders raise many types; the reason is what matters
        raise DicomFileError(f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from exc
    size = (_int(ds.get("Rows")), _int(ds.get("Columns")))
    if stored.shape != size:
        raise DicomFileError(f"decoded {stored.shape} pixels, the header says {size}")
    stored = _check_bits(stored, ds)
    hu = _to_hu(stored, slope, intercept, ds.get("PixelPaddingValue"), ds.get("PixelPaddingRangeLimit"))
    problem = PHYSICAL_HU.problem(hu)
    if problem:
        raise DicomFileError(f"{problem} (RescaleSlope {slope:g}, RescaleIntercept {intercept:g})")
    return hu


def _to_hu(stored: np.ndarray, slope: float, intercept: float, padding, padding_limit) -> np.ndarray:
    """Stored values → int16 HU (saturated at the int16 limits), padding → PADDING_HU."""
    if padding is not None and not isinstance(padding, bytes):
        limit = padding if padding_limit is None or isinstance(padding_limit, bytes) else padding_limit
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


def text_of(ds: Dataset, keyword: str) -> str:
    """The text of `keyword` in `ds`, the values of a multi-valued one joined with a backslash as
    DICOM writes them (`a\\b`, never a Python list), blanks around it removed; "" when absent."""
    value = ds.get(keyword, "")
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def person_name(ds: Dataset, keyword: str = "PatientName") -> str:
    """The person name `keyword` of `ds` as a reader sees it: its components ("DOE^JANE") joined
    with spaces ("DOE JANE"); "" when absent."""
    return text_of(ds, keyword).replace("^", " ").strip()


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
        patient_name=person_name(ds),
        patient_id=text_of(ds, "PatientID"),
        patient_sex=text_of(ds, "PatientSex"),
        patient_age=text_of(ds, "PatientAge"),
        patient_birth_date=text_of(ds, "PatientBirthDate"),
        study_date=text_of(ds, "StudyDate"),
        study_description=text_of(ds, "StudyDescription"),
        accession_number=text_of(ds, "AccessionNumber"),
        study_uid=text_of(ds, "StudyInstanceUID"),
        series_uid=text_of(ds, "SeriesInstanceUID"),
        series_description=text_of(ds, "SeriesDescription"),
        series_number=_int(ds.get("SeriesNumber")),
        institution=text_of(ds, "InstitutionName"),
        manufacturer=text_of(ds, "Manufacturer"),
        scanner_model=text_of(ds, "ManufacturerModelName"),
        kernel=text_of(ds, "ConvolutionKernel"),
        window_center_hu=_first_number(
            functional_attribute(ds, frame, "FrameVOILUTSequence", "WindowCenter")
        ),
        window_width_hu=_first_number(functional_attribute(ds, frame, "FrameVOILUTSequence", "WindowWidth")),
    )
