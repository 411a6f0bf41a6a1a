"""Small hand-made DICOM CT files for loader tests whose truth is set by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_ct_slice(
    path: Path,
    stored: np.ndarray,
    *,
    series_uid: str,
    position: tuple[float, float, float] | None,
    instance_number: int,
    orientation=(1, 0, 0, 0, 1, 0),
    intercept: float = -1024.0,
    slope: float = 1.0,
    modality: str = "CT",
    padding: int | None = None,
    acquisition: int = 1,
) -> Path:
    """Write one uncompressed CT slice. `stored` is int16 (signed) or uint16 (unsigned)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "TEST^LOADER"
    ds.PatientID = "T0001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = "loader test"
    ds.InstanceNumber = instance_number
    ds.AcquisitionNumber = acquisition
    if orientation is not None:
        ds.ImageOrientationPatient = list(orientation)
    if position is not None:
        ds.ImagePositionPatient = list(position)
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.0
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = slope
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    signed = stored.dtype == np.int16
    ds.PixelRepresentation = 1 if signed else 0
    if padding is not None:
        ds.PixelPaddingValue = padding
    ds.PixelData = stored.astype(np.int16 if signed else np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(folder: Path, volume_stored: np.ndarray, positions_z, *, names=None, **kwargs) -> list[Path]:
    """Write a volume (z, y, x) as slices at z positions `positions_z` (mm); `names` sets file names."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = kwargs.pop("series_uid", generate_uid())
    paths = []
    for i, (plane, z) in enumerate(zip(volume_stored, positions_z, strict=True)):
        name = names[i] if names else f"slice{i:03d}.dcm"
        paths.append(
            write_ct_slice(
                folder / name,
                plane,
                series_uid=series_uid,
                position=(-100.0, -100.0, float(z)),
                instance_number=i + 1,
                **kwargs,
            )
        )
    return paths


def patch_bytes(path: Path, old: bytes, new: bytes) -> Path:
    """Replace the one occurrence of `old` in the file by `new` padded with spaces to the same
    length: writes values pydicom refuses to encode (a RescaleSlope of "nan", say)."""
    data = path.read_bytes()
    assert data.count(old) == 1 and len(new) <= len(old), (old, new)
    path.write_bytes(data.replace(old, new.ljust(len(old), b" ")))
    return path
