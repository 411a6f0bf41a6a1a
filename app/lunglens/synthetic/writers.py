"""Writers for synthetic series: a DICOM CT series and a COVID-CTset style TIFF folder.

Both are deterministic: the same volume and seed give the same bytes. They write only into
a new or empty folder, never next to existing files (an input folder stays untouched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from lunglens.io.raw_scale import RAW_OFFSET_HU, hu_to_raw

DICOM_BITS_STORED = 12
"""Stored bits of the written pixels (like the Siemens scanners of COVID-CTset)."""
MAX_STORED_VALUE = (1 << DICOM_BITS_STORED) - 1
SYNTHETIC_PATIENT_NAME = "SYNTHETIC^PHANTOM"


@dataclass(frozen=True)
class WindowPreset:
    """A display window in HU and its name (DICOM WindowCenterWidthExplanation)."""

    name: str
    center_hu: float
    width_hu: float


WINDOW_PRESETS = (
    WindowPreset("LUNG", -600.0, 1500.0),
    WindowPreset("MEDIASTINUM", 40.0, 400.0),
    WindowPreset("BONE", 480.0, 2500.0),
)


def _prepare_folder(folder: Path) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is not a folder")
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"refusing to write into a non-empty folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _uid(seed: int, *parts: str) -> str:
    """A valid UID derived only from the seed and a label (same seed, same UID)."""
    return generate_uid(entropy_srcs=["lunglens-synthetic", str(seed), *parts])


def _series_template(
    rows: int,
    columns: int,
    pixel_spacing_mm: float,
    thickness_mm: float,
    seed: int,
    patient_name: str,
    patient_id: str,
    series_description: str,
    study_date: str,
) -> Dataset:
    """The attributes every slice of the series shares (patient, study, series, equipment,
    frame of reference, image pixel, CT image, VOI LUT)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    # Patient
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Synthetic image: no patient data (LungLens phantom)"
    # General study
    ds.StudyInstanceUID = _uid(seed, "study")
    ds.StudyDate = study_date
    ds.StudyTime = "120000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = f"SYN{seed % 100000:05d}"
    ds.AccessionNumber = ""
    ds.StudyDescription = "Synthetic chest CT (LungLens demo)"
    # General series
    ds.Modality = "CT"
    ds.SeriesInstanceUID = _uid(seed, "series")
    ds.SeriesNumber = 2
    ds.SeriesDate = study_date
    ds.SeriesTime = "120000"
    ds.SeriesDescription = series_description
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "CHEST"
    # Frame of reference
    ds.FrameOfReferenceUID = _uid(seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    # General equipment
    ds.Manufacturer = "LunglensSynthetic"
    ds.ManufacturerModelName = "Procedural phantom"
    ds.SoftwareVersions = "lunglens.synthetic"
    ds.InstitutionName = "Synthetic"
    # General image / CT image
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.ContentDate = study_date
    ds.ContentTime = "120000"
    ds.BurnedInAnnotation = "NO"
    ds.KVP = "120"
    ds.ConvolutionKernel = "SYNTHETIC"
    ds.ReconstructionDiameter = f"{pixel_spacing_mm * columns:.2f}"
    # Image plane
    ds.PixelSpacing = [f"{pixel_spacing_mm:.6g}", f"{pixel_spacing_mm:.6g}"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceThickness = f"{thickness_mm:.6g}"
    # Image pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = DICOM_BITS_STORED
    ds.HighBit = DICOM_BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = str(-RAW_OFFSET_HU)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    # VOI LUT: window presets
    ds.WindowCenter = [f"{w.center_hu:g}" for w in WINDOW_PRESETS]
    ds.WindowWidth = [f"{w.width_hu:g}" for w in WINDOW_PRESETS]
    ds.WindowCenterWidthExplanation = [w.name for w in WINDOW_PRESETS]
    return ds


def write_dicom_series(
    volume_hu: np.ndarray,
    positions_mm: Sequence[float],
    pixel_spacing_mm: float,
    thickness_mm: float,
    folder: Path,
    *,
    patient_name: str = SYNTHETIC_PATIENT_NAME,
    patient_id: str = "SYNTH-0001",
    series_description: str = "Synthetic chest CT",
    study_date: str = "20200601",
    seed: int = 0,
) -> list[Path]:
    """Write a volume (z, y, x in HU, index 0 most superior) as a DICOM CT Image Storage series.

    `positions_mm[i]` is slice i's head-foot position (mm, patient z, larger = superior); the
    image is centred on x = y = 0 mm, axial (orientation 1,0,0,0,1,0), stored unsigned 12-bit
    with RescaleIntercept -1024, slope 1 (HU outside -1024..3071 is clipped). UIDs derive from
    `seed`. Files go to `folder` (created; must be empty) as CT00001.dcm, ... Returns the paths.
    """
    volume = np.asarray(volume_hu)
    if volume.ndim != 3:
        raise ValueError(f"volume must be (z, y, x), got shape {volume.shape}")
    positions = np.asarray(positions_mm, dtype=float)
    if positions.shape != (volume.shape[0],):
        raise ValueError(f"need {volume.shape[0]} positions, got {positions.shape}")
    folder = _prepare_folder(folder)
    n_slices, rows, columns = volume.shape
    template = _series_template(
        rows,
        columns,
        pixel_spacing_mm,
        thickness_mm,
        seed,
        patient_name,
        patient_id,
        series_description,
        study_date,
    )
    stored = np.minimum(hu_to_raw(volume, np.uint16), MAX_STORED_VALUE).astype("<u2")
    corner_x = -(columns - 1) / 2.0 * pixel_spacing_mm
    corner_y = -(rows - 1) / 2.0 * pixel_spacing_mm
    paths = []
    for index in range(n_slices):
        ds = Dataset()
        ds.update(template)
        ds.SOPInstanceUID = _uid(seed, "instance", str(index))
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [f"{corner_x:.6g}", f"{corner_y:.6g}", f"{positions[index]:.6g}"]
        ds.SliceLocation = f"{positions[index]:.6g}"
        ds.PixelData = stored[index].tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"CT{index + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_tiff_series(volume_hu: np.ndarray, folder: Path, series_name: str = "SR_2") -> list[Path]:
    """Write a volume (z, y, x in HU, index 0 most superior) the COVID-CTset way: one 16-bit
    TIFF per slice, value = HU + 1024 (clipped to 0..65535), `folder/SR_2/IM00001.tif` being
    the most superior slice. The series folder is created and must be empty. Returns the paths."""
    volume = np.asarray(volume_hu)
    if volume.ndim != 3:
        raise ValueError(f"volume must be (z, y, x), got shape {volume.shape}")
    series_folder = _prepare_folder(Path(folder) / series_name)
    raw = hu_to_raw(volume, np.uint16)
    paths = []
    for index, image in enumerate(raw):
        path = series_folder / f"IM{index + 1:05d}.tif"
        tifffile.imwrite(path, image, photometric="minisblack")
        paths.append(path)
    return paths
