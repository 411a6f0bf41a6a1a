"""DICOM and TIFF writers: valid files, same seed same bytes, read back through lunglens.io."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from lunglens.io import discover, load
from lunglens.synthetic.phantom import make_phantom
from lunglens.synthetic.writers import write_dicom_series, write_tiff_series


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_slices=35, seed=9, covid_severity=0.5, size=128, pixel_spacing_mm=2.8)


def _write_dicom(phantom, folder, seed=9):
    return write_dicom_series(
        phantom.hu,
        phantom.positions_mm,
        phantom.pixel_spacing_mm,
        phantom.slice_thickness_mm,
        folder,
        seed=seed,
    )


def test_dicom_reads_back_with_the_same_hu_and_geometry(phantom, tmp_path):
    _write_dicom(phantom, tmp_path / "dicom")
    found = discover(tmp_path / "dicom")
    assert len(found.series) == 1 and found.series[0].analysable, found.series
    series = load(found.series[0])
    np.testing.assert_array_equal(series.hu, phantom.hu)
    np.testing.assert_allclose(series.positions_mm, phantom.positions_mm, atol=1e-3)
    np.testing.assert_allclose(series.pixel_spacing_mm, (phantom.pixel_spacing_mm,) * 2)
    assert "SYNTHETIC" in series.metadata.patient_name


def test_dicom_header(phantom, tmp_path):
    paths = _write_dicom(phantom, tmp_path / "dicom")
    first, second = (pydicom.dcmread(p) for p in paths[:2])
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert first.RescaleIntercept == -1024 and first.RescaleSlope == 1 and first.PixelRepresentation == 0
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert "SYNTHETIC" in str(first.PatientName)
    assert list(first.ImageOrientationPatient) == [1, 0, 0, 0, 1, 0]
    assert len(first.WindowCenter) == len(first.WindowWidth) == 3


def test_dicom_same_seed_same_bytes(phantom, tmp_path):
    a = _write_dicom(phantom, tmp_path / "a")
    b = _write_dicom(phantom, tmp_path / "b")
    c = _write_dicom(phantom, tmp_path / "c", seed=10)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert pydicom.dcmread(a[0]).StudyInstanceUID != pydicom.dcmread(c[0]).StudyInstanceUID


def test_writers_refuse_a_non_empty_folder(phantom, tmp_path):
    (tmp_path / "existing.txt").write_text("input data")
    with pytest.raises(FileExistsError):
        _write_dicom(phantom, tmp_path)
    with pytest.raises(FileExistsError):
        write_tiff_series(phantom.hu, tmp_path.parent, series_name=tmp_path.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.txt"]


def test_dicom_passes_dciodvfy(phantom, tmp_path):
    """dciodvfy (Debian package dicom3tools) reports no errors; required under CI."""
    if shutil.which("dciodvfy") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("dciodvfy missing under CI: apt-get install dicom3tools")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    paths = _write_dicom(phantom, tmp_path / "dicom")
    for path in (paths[0], paths[len(paths) // 2], paths[-1]):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        report = result.stdout + result.stderr
        assert "Error" not in report, report
        assert result.returncode == 0, report


def test_tiff_covid_ctset_layout_and_values(phantom, tmp_path):
    import tifffile

    paths = write_tiff_series(phantom.hu, tmp_path)
    assert [p.name for p in paths[:2]] == ["IM00001.tif", "IM00002.tif"]
    assert paths[0].parent == tmp_path / "SR_2"
    first = tifffile.imread(paths[0])
    assert first.dtype == np.uint16
    np.testing.assert_array_equal(first.astype(np.int32) - 1024, phantom.hu[0])


def test_tiff_reads_back_through_lunglens_io(phantom, tmp_path):
    write_tiff_series(phantom.hu, tmp_path)
    found = discover(tmp_path / "SR_2")
    assert len(found.series) == 1
    series = load(found.series[0])
    np.testing.assert_array_equal(series.hu, phantom.hu)
