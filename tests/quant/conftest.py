"""Phantom series for the quantification tests: a `Series` built in memory from the synthetic
phantom, with the ground-truth lung sides (the phantom's right lung is on the image left)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lunglens.io.series import Series, SeriesMetadata, SeriesRef
from lunglens.quant.lungs import segment_lungs
from lunglens.synthetic import make_phantom


def phantom_series(
    hu: np.ndarray,
    pixel_spacing_mm: float,
    slice_spacing_mm: float,
    orientation_cosines=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
) -> Series:
    """A loaded-looking Series around an HU volume (index 0 most superior)."""
    n, rows, columns = hu.shape
    ref = SeriesRef(
        key="phantom",
        source_format="dicom",
        frames=tuple((Path(f"phantom/{i:03d}.dcm"), None) for i in range(n)),
        modality="CT",
        orientation="axial",
        rows=rows,
        columns=columns,
        pixel_spacing_mm=(pixel_spacing_mm, pixel_spacing_mm),
        slice_thickness_mm=slice_spacing_mm,
        description="phantom",
    )
    return Series(
        ref=ref,
        hu=hu,
        positions_mm=-slice_spacing_mm * np.arange(n, dtype=float),
        pixel_spacing_mm=(pixel_spacing_mm, pixel_spacing_mm),
        slice_spacing_mm=slice_spacing_mm,
        metadata=SeriesMetadata(),
        source_paths=ref.frames and tuple(p for p, _ in ref.frames),
        orientation_cosines=orientation_cosines,
    )


def truth_sides(lung_mask: np.ndarray) -> np.ndarray:
    """The phantom's lung mask as labels: 1 right lung (image left half), 2 left lung."""
    labels = np.zeros(lung_mask.shape, np.uint8)
    half = lung_mask.shape[2] // 2
    labels[:, :, :half][lung_mask[:, :, :half]] = 1
    labels[:, :, half:][lung_mask[:, :, half:]] = 2
    return labels


@pytest.fixture(scope="session")
def phantom_512():
    """A full-resolution phantom (0.7 mm pixels) with moderate disease."""
    return make_phantom(n_slices=80, seed=3, covid_severity=0.6)


@pytest.fixture(scope="session")
def phantom_512_lungs(phantom_512):
    """The lung segmentation of `phantom_512` (standard orientation)."""
    p = phantom_512
    return segment_lungs(p.hu, (p.pixel_spacing_mm,) * 2, p.slice_thickness_mm, (1, 0, 0, 0, 1, 0))


@pytest.fixture(scope="session")
def phantom_256():
    """A small phantom (1.4 mm pixels) for the orientation cases."""
    return make_phantom(n_slices=48, seed=5, covid_severity=0.4, size=256, pixel_spacing_mm=1.4)
