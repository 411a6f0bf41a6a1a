"""lung_mask: threshold-and-morphology lung segmentation of one axial slice."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from lunglens.synthetic.lung_mask import lung_mask


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


@pytest.mark.parametrize("size", [512, 384, 640])
def test_lung_mask_matches_known_lungs_at_any_size(size, make_chest_slice):
    hu, true_lung = make_chest_slice(size)
    mask = lung_mask(hu)
    assert mask.shape == hu.shape and mask.dtype == bool
    assert dice(mask, true_lung) > 0.95


def test_lung_mask_excludes_outside_air_trachea_and_table(chest_slice):
    hu, true_lung = chest_slice
    mask = lung_mask(hu)
    size = hu.shape[0]
    assert not mask[:20].any() and not mask[-20:].any(), "outside air or the table counted as lung"
    assert not mask[size // 2 - 90, size // 2], "trachea counted as lung"
    assert mask[true_lung].mean() > 0.97, "vessels inside the lungs must be filled in"


def test_lung_mask_is_empty_without_lungs(chest_slice):
    hu = chest_slice[0].copy()
    hu[hu < -500] = 40
    hu[:30] = -1000
    assert not lung_mask(hu).any()


def test_lung_mask_rejects_volumes():
    with pytest.raises(ValueError):
        lung_mask(np.zeros((2, 8, 8), np.int16))


def _real_slice(folder, index_from_top: int) -> np.ndarray:
    datasets = [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda ds: -float(ds.ImagePositionPatient[2]))
    ds = datasets[index_from_top]
    return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.int16)


def test_lung_mask_on_real_slices(covid_ct_md):
    folder = covid_ct_md / "normal001"
    mid_lung = lung_mask(_real_slice(folder, 70))
    abdomen = lung_mask(_real_slice(folder, 150))
    # normal001, 0.635 mm pixels: mid-chest lungs cover roughly 50 000 pixels (about 200 cm^2).
    assert 35_000 < mid_lung.sum() < 65_000
    left, right = mid_lung[:, :256].sum(), mid_lung[:, 256:].sum()
    assert min(left, right) > 0.3 * max(left, right), "both lungs found"
    assert abdomen.sum() < 500
