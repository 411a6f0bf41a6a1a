"""COVID-CTset-style TIFF folders: <patient>/SR_2/IM00001.tif, value = HU + 1024."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import tifffile

from lunglens.io import LoadError, discover, load


def _write_folder(folder, volume_raw):
    folder.mkdir(parents=True)
    for i, plane in enumerate(volume_raw, 1):
        tifffile.imwrite(folder / f"IM{i:05d}.tif", plane)


def test_covid_ctset_layout_gives_one_series_per_folder_in_natural_order(tmp_path):
    rng = np.random.default_rng(0)
    volumes = {}
    for name, n in (("SR_2", 12), ("SR_3", 4), ("SR_4", 3)):
        volumes[name] = rng.integers(0, 4000, (n, 24, 24)).astype(np.uint16)
        _write_folder(tmp_path / "patient1" / name, volumes[name])
    found = discover(tmp_path)
    assert sorted(r.description for r in found.series) == ["patient1/SR_2", "patient1/SR_3", "patient1/SR_4"]
    sr2 = next(r for r in found.series if r.description.endswith("SR_2"))
    assert [p.name for p, _ in sr2.frames][:3] == ["IM00001.tif", "IM00002.tif", "IM00003.tif"]
    assert sr2.frames[9][0].name == "IM00010.tif"  # natural, not lexical, order
    series = load(sr2)
    assert np.array_equal(series.hu, volumes["SR_2"].astype(np.int32) - 1024)
    assert series.hu.dtype == np.int16
    assert series.raw().dtype == np.uint16 and np.array_equal(series.raw(), volumes["SR_2"])
    assert not series.pixel_spacing_stated  # TIFF states no pixel size: 1 mm is nominal


def test_tiff_offset_is_overridable(tmp_path):
    _write_folder(tmp_path / "s", np.full((3, 8, 8), 2000, np.uint16))
    series = load(discover(tmp_path).series[0], tiff_offset_hu=0)
    assert (series.hu == 2000).all()


def test_mixed_sizes_in_a_tiff_folder_are_not_analysable(tmp_path):
    folder = tmp_path / "SR_2"
    folder.mkdir()
    for i, size in enumerate((16, 16, 24, 16), 1):
        tifffile.imwrite(folder / f"IM{i:05d}.tif", np.zeros((size, size), np.uint16))
    (ref,) = discover(tmp_path).series
    assert not ref.analysable and "mixed slice sizes" in ref.problems[0]


def test_undecodable_tiff_folder_without_description_is_named_by_its_folder(tmp_path):
    folder = tmp_path / "SR_2"
    _write_folder(folder, np.zeros((3, 8, 8), np.uint16))
    ref = dataclasses.replace(discover(tmp_path).series[0], description="")
    for path, _ in ref.frames:  # the files change between discovery and loading
        path.write_bytes(b"not a TIFF")
    with pytest.raises(LoadError, match=rf"^{re.escape(str(folder))}: no slice could be decoded"):
        load(ref)


def test_real_series_as_tiff_folder_loads_the_same_hu(covid_ct_md, tmp_path):
    dicom = load(discover(covid_ct_md / "P001").series[0])
    _write_folder(tmp_path / "patientX" / "SR_2", dicom.raw()[:20])
    tiff = load(discover(tmp_path).series[0])
    assert np.array_equal(tiff.hu, np.maximum(dicom.hu[:20], -1024))
