"""The three real COVID-CT-MD chest CT series: discovery, geometry, HU and metadata."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from lunglens.io import discover, load
from lunglens.io.dicom import frame_hu, read_dataset

EXPECTED = {"P001": (148, 0.748), "normal001": (154, 0.635), "cap001": (168, 0.590)}


@pytest.fixture(scope="module")
def found(covid_ct_md):
    return discover(covid_ct_md)


def test_three_analysable_series(found):
    by_folder = {r.folder.name: r for r in found.series}
    assert set(by_folder) == set(EXPECTED)
    for name, (n, spacing) in EXPECTED.items():
        ref = by_folder[name]
        assert ref.analysable, ref.problems
        assert ref.n_slices == n and (ref.rows, ref.columns) == (512, 512)
        assert ref.pixel_spacing_mm[0] == pytest.approx(spacing, abs=5e-4)
        assert ref.orientation == "axial" and ref.slice_thickness_mm == 2.0
    # the label tables beside the series (slice_labels.csv, lobe_labels.csv) are the only skips
    assert {s.path.suffix for s in found.skipped} == {".csv"}
    assert {s.reason for s in found.skipped} == {"not a DICOM or TIFF image"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_sorts_superior_to_inferior_and_gives_hu(found, name):
    ref = next(r for r in found.series if r.folder.name == name)
    series = load(ref)
    assert series.hu.shape == (EXPECTED[name][0], 512, 512) and series.hu.dtype == np.int16
    steps = np.diff(series.positions_mm)
    assert np.allclose(steps, -2.0, atol=0.01)
    assert series.warnings == []
    # HU: outside-air and lung well below water, soft tissue around 0..100
    assert series.hu.min() == -1024
    body = series.hu[series.n_slices // 2, 200:300, 200:300]
    assert -200 < np.median(body) < 200 or np.median(body) < -500  # mediastinum or lung
    assert series.metadata.manufacturer.upper().startswith("SIEMENS")
    assert series.metadata.kernel == "D40s"
    assert (series.metadata.window_center_hu, series.metadata.window_width_hu) == (50, 350)
    # the file names do not follow slice order, the loader does
    instance = [int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber) for p in series.source_paths]
    assert instance == sorted(instance)


def test_fast_jpeg_path_equals_pydicom_pixel_pipeline(found):
    ref = next(r for r in found.series if r.folder.name == "P001")
    for path, frame in ref.frames[::37]:
        ds = read_dataset(path, pixels=True)
        expected = pydicom.pixels.apply_rescale(ds.pixel_array, ds)
        assert np.array_equal(frame_hu(ds, frame), expected.astype(np.int16))
