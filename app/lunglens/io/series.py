"""The two records the loader hands on: a `SeriesRef` (found, not decoded) and a `Series`
(decoded HU volume with geometry and the metadata a report needs)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from lunglens.io.geometry import StandardLayout
from lunglens.io.raw_scale import hu_to_raw


@dataclass(frozen=True)
class SeriesRef:
    """One series found by `discover`, without decoded pixels.

    `frames` pairs each slice with its file and, for multi-frame files, the frame index
    (None for single-frame files and TIFF). The order is discovery order; `load` sorts.
    `problems` lists why the series cannot be analysed (empty: analysable); `warnings`
    are things the reader should know that do not stop the analysis.
    """

    key: str
    """SeriesInstanceUID (plus a split suffix) for DICOM, the folder path for TIFF."""
    source_format: str
    """"dicom" or "tiff"."""
    frames: tuple[tuple[Path, int | None], ...]
    modality: str
    orientation: str
    """"axial", "coronal", "sagittal", "oblique" or "unknown"."""
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float] | None
    """(row spacing, column spacing) in mm, None when the files do not say."""
    slice_thickness_mm: float | None
    description: str
    series_number: int | None = None
    warnings: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    patient_name: str = ""
    """PatientName as the files have it ("^" shown as a space); "" when absent (and for TIFF)."""
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    """StudyDate as written (YYYYMMDD); "" when absent."""
    study_time: str = ""
    """StudyTime as written (HHMMSS.frac); "" when absent."""
    study_description: str = ""
    burned_in_annotation: bool = False
    """True when a file of the series declares BurnedInAnnotation YES: identifying text (a name,
    a date) in the pixels, which every image made from them shows."""
    orientation_cosines: tuple[float, ...] | None = None
    """ImageOrientationPatient of the first file (LPS); None for TIFF and files that do not say."""
    skipped_beside: tuple[Path, ...] = ()
    """Files (and folders) beside the series' own that discovery skipped, named in `warnings`:
    a slice among them would be missing from the series (anonymised outputs withhold their names)."""

    @property
    def n_slices(self) -> int:
        return len(self.frames)

    @property
    def analysable(self) -> bool:
        return not self.problems

    @property
    def name(self) -> str:
        """What messages call the series: its description; without one, its folder and number
        ("/data/P001, series 2"), never its UID, which means nothing to a reader."""
        if self.description:
            return self.description
        return (
            f"{self.folder}, series {self.series_number}"
            if self.series_number is not None
            else str(self.folder)
        )

    @property
    def folder(self) -> Path:
        """The deepest folder holding every file of the series (their own folder, or the one
        above when a series' files lie in several: a series is found whole only from there)."""
        parents = {str(path.parent) for path, _ in self.frames}
        return Path(os.path.commonpath(parents)) if len(parents) > 1 else self.frames[0][0].parent

    def summary(self) -> str:
        """One line for listings: description, slice count, size, spacing, orientation."""
        spacing = f"{self.pixel_spacing_mm[0]:.3f} mm" if self.pixel_spacing_mm else "? mm"
        thick = f"{self.slice_thickness_mm:g} mm" if self.slice_thickness_mm else "? mm"
        desc = self.description or "(no description)"
        return (
            f"{self.modality or '?'} {desc!r}: {self.n_slices} slices {self.columns}x{self.rows}, "
            f"pixel {spacing}, thickness {thick}, {self.orientation}"
        )


@dataclass(frozen=True)
class SeriesMetadata:
    """What a report or the viewer's header shows. Empty strings where the files say nothing."""

    patient_name: str = ""
    patient_id: str = ""
    patient_sex: str = ""
    patient_age: str = ""
    patient_birth_date: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    study_uid: str = ""
    series_uid: str = ""
    series_description: str = ""
    series_number: int | None = None
    institution: str = ""
    manufacturer: str = ""
    scanner_model: str = ""
    kernel: str = ""
    window_center_hu: float | None = None
    window_width_hu: float | None = None
    """The file's own display window, taken from the middle slice (HU)."""


@dataclass
class Series:
    """A decoded series. `hu` is int16 (z, y, x) in Hounsfield units; index 0 is the most
    superior slice. `positions_mm[i]` is slice i's position along the patient's
    head-foot axis in mm (larger = more superior); for TIFF folders and files without positions
    it is assumed from the file order (`positions_stated`) and says so in `warnings`."""

    ref: SeriesRef
    hu: np.ndarray
    positions_mm: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    slice_spacing_mm: float
    metadata: SeriesMetadata
    source_paths: tuple[Path, ...]
    warnings: list[str] = field(default_factory=list)
    orientation_cosines: tuple[float, float, float, float, float, float] | None = None
    """ImageOrientationPatient of the series (row then column direction cosines, DICOM LPS:
    +x patient left, +y posterior, +z head); None for TIFF folders and files that do not say.
    It tells which image side is the patient's right."""
    pixel_spacing_stated: bool = True
    """False when the files state no pixel size (TIFF folders, DICOM without PixelSpacing):
    `pixel_spacing_mm` is then a nominal 1 mm, and lengths, areas and volumes are nominal too."""
    positions_stated: bool = True
    """False when the files state no slice positions (TIFF folders, DICOM without
    ImagePositionPatient): `positions_mm` is then assumed from the file order, 1 mm or the slice
    thickness apart."""

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    @property
    def layout(self) -> StandardLayout:
        """How the stored slices turn to the layout the selector and the classifier assume."""
        return StandardLayout.of(self.orientation_cosines)

    @property
    def standard_hu(self) -> np.ndarray:
        """`hu` in the standard layout (a view): what the selector counts and the classifier reads,
        whichever way the slices are stored (rows reversed, a prone scan's both axes)."""
        return self.layout.to_standard(self.hu)

    @cached_property
    def fingerprint(self) -> str:
        """Which images these are, as 32 hex digits: the first 16 bytes of a SHA-256 digest of the
        HU volume (its shape and every voxel) and its geometry (slice positions, orientation
        cosines, pixel and slice spacing). Loads of unchanged files give the same one; other pixels
        (another patient's slices under the same name or UID, a mirrored re-send) or other geometry
        give another. Computed once per `Series`: about 0.05 s for 148 slices of 512 x 512 (SHA-256
        runs on the CPU's SHA instructions, twice as fast as BLAKE2b there)."""
        digest = hashlib.sha256()
        geometry = (
            self.hu.shape,
            str(self.hu.dtype),
            [float(p) for p in self.positions_mm],
            [float(s) for s in self.pixel_spacing_mm],
            float(self.slice_spacing_mm),
            self.orientation_cosines and [float(c) for c in self.orientation_cosines],
        )
        digest.update(repr(geometry).encode("ascii"))
        digest.update(np.ascontiguousarray(self.hu).reshape(-1).view(np.uint8))
        return digest.hexdigest()[:32]

    def raw(self) -> np.ndarray:
        """The volume on the COVID-CTset raw scale: clip(HU + 1024, 0, 65535), uint16."""
        return hu_to_raw(self.hu, np.uint16)
