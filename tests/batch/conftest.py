"""A small phantom archive for the batch tests: patients of synthetic chest CT (24 slices of
128 x 128 pixels each, so a batch of 30 runs in seconds), plus a series whose pixel data is cut
short in every file (decodes to nothing: a job that fails on bad data) and an MR series (not
analysable). Each patient is its own study and series (UIDs from its seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from lunglens.synthetic import make_phantom, write_dicom_series
from tests.factory import write_series
from tests.tiny_model import write_tiny_model

PHANTOM_SLICES = 24
PHANTOM_SIZE = 128
PHANTOM_SPACING_MM = 0.7 * 512 / PHANTOM_SIZE
DISTINCT_VOLUMES = 4
"""Volumes rendered (normal and COVID at two seeds); patients reuse them with their own UIDs."""


def _volumes():
    return [
        make_phantom(
            n_slices=PHANTOM_SLICES,
            size=PHANTOM_SIZE,
            pixel_spacing_mm=PHANTOM_SPACING_MM,
            seed=seed,
            covid_severity=0.7 if seed % 2 else 0.0,
        )
        for seed in range(DISTINCT_VOLUMES)
    ]


def write_archive(root: Path, n_patients: int, *, bad: bool = True, names=None) -> Path:
    """Write `n_patients` phantom patients under `root/<patient id>/` (ids PAT000.. or `names`);
    with `bad`, also `root/BADTRUNC/` (every slice with RescaleSlope 0: no Hounsfield units) and
    `root/MRSERIES/` (three MR slices)."""
    volumes = _volumes()
    names = names or [f"PAT{i:03d}" for i in range(n_patients)]
    for i, name in enumerate(names):
        phantom = volumes[i % len(volumes)]
        write_dicom_series(
            phantom.hu,
            phantom.positions_mm,
            phantom.pixel_spacing_mm,
            phantom.slice_thickness_mm,
            root / name,
            patient_id=name,
            seed=1000 + i,
        )
    if bad:
        phantom = volumes[0]
        paths = write_dicom_series(
            phantom.hu,
            phantom.positions_mm,
            phantom.pixel_spacing_mm,
            phantom.slice_thickness_mm,
            root / "BADTRUNC",
            patient_id="BADTRUNC",
            seed=999,
        )
        for path in paths:  # no Hounsfield units in any slice: discovered, then fails to load
            dataset = pydicom.dcmread(path)
            dataset.RescaleSlope = 0
            dataset.save_as(path)
        write_series(root / "MRSERIES", np.zeros((3, 16, 16), np.int16), [0.0, 2.0, 4.0], modality="MR")
    return root


@pytest.fixture(scope="session")
def phantom_archive(tmp_path_factory) -> Path:
    """30 phantom patients plus the series without HU and the MR series (32 series in all)."""
    return write_archive(tmp_path_factory.mktemp("archive"), 30)


@pytest.fixture(scope="session")
def tiny_card(tmp_path_factory) -> Path:
    """The tiny test model honouring the contract (fast on the CPU)."""
    return write_tiny_model(tmp_path_factory.mktemp("model"))
