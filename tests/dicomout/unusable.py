"""Small series LungLens analyses but cannot give DICOM results for (`dicom_results_problem`):
files without pixel spacing, one multi-frame (Legacy Converted Enhanced CT) file, a TIFF folder;
and one it cannot anonymise images of (`with_burned_in_annotation`)."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import tifffile

from lunglens.synthetic import make_phantom, write_dicom_series

PHANTOM = make_phantom(n_slices=16, size=128, pixel_spacing_mm=2.8, seed=1, covid_severity=0.7)
"""A small synthetic chest (lungs enough for a verdict): the series below are analysable."""


def phantom_slices(folder: Path) -> list[Path]:
    return write_dicom_series(
        PHANTOM.hu, PHANTOM.positions_mm, PHANTOM.pixel_spacing_mm, PHANTOM.slice_thickness_mm, folder
    )


def without_pixel_spacing(folder: Path) -> Path:
    for path in phantom_slices(folder):
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(path)
    return folder


def multi_frame(folder: Path) -> Path:
    slices = [pydicom.dcmread(p) for p in phantom_slices(folder / "slices")]
    image = hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=slices,
        series_instance_uid=hd.UID(),
        series_number=7,
        sop_instance_uid=hd.UID(),
        instance_number=1,
    )
    (folder / "enhanced").mkdir()
    image.save_as(folder / "enhanced" / "enhanced.dcm")
    return folder / "enhanced"


def tiff_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, plane in enumerate(PHANTOM.hu):
        tifffile.imwrite(folder / f"IM{i + 1:05d}.tif", (plane.astype(np.int32) + 1024).astype(np.uint16))
    return folder


def with_burned_in_annotation(folder: Path) -> Path:
    """The phantom, its second slice declaring BurnedInAnnotation YES (the others say nothing)."""
    path = phantom_slices(folder)[1]
    ds = pydicom.dcmread(path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(path)
    return folder


#: (maker, what the refusal says)
UNUSABLE = [
    (without_pixel_spacing, "the files state no usable pixel spacing (LungLens assumed 1 mm)"),
    (multi_frame, "no DICOM results for a multi-frame (enhanced) series"),
    (tiff_folder, "no DICOM results for a TIFF folder"),
]
